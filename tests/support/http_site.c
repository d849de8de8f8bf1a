/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The simulated site with HTTP, and a small HTTP client; see http_site.h. */
#include "http_site.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mqtt_wire.h"
#include "test_util.h"

enum { START_TIMEOUT_MS = 15000, PLAN_TIMEOUT_MS = 20000, STOP_TIMEOUT_MS = 5000 };

/* ---- ## Processes ---- */

int test_find_program(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/bin:/sbin:/bin", path != NULL ? path : "");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/%s", d, name);
        if (access(out, X_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

pid_t test_spawn(char *const argv[], const char *log_path)
{
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(log_fd >= 0, "open %s: %s", log_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(log_fd);
    return pid;
}

int test_stop_pid(pid_t pid, int timeout_ms)
{
    if (pid <= 0) {
        return -1;
    }
    kill(pid, SIGTERM);
    double deadline = test_now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            break;
        }
        if (got < 0 || test_now_ms() > deadline) {
            kill(pid, SIGKILL);
            if (waitpid(pid, &status, 0) != pid) {
                return -1;
            }
            break;
        }
        test_sleep_ms(20);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    ck_assert_msg(port > 0, "no free loopback port");
    return port;
}

/* ---- ## HTTP client ---- */

static void base64(const char *in, char *out, size_t size)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n && o + 5 < size; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        v |= i + 1 < n ? (unsigned char)in[i + 1] << 8 : 0;
        v |= i + 2 < n ? (unsigned char)in[i + 2] : 0;
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int http_request(int port, const char *method, const char *path, const char *auth, const char *body,
                 int timeout_ms, http_resp_t *out)
{
    memset(out, 0, sizeof *out);
    out->status = -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    char head[2048], cred[512] = "";
    if (auth != NULL) {
        char enc[400];
        base64(auth, enc, sizeof enc);
        snprintf(cred, sizeof cred, "Authorization: Basic %s\r\n", enc);
    }
    size_t blen = body != NULL ? strlen(body) : 0;
    char length[96] = "";
    if (body != NULL) {
        snprintf(length, sizeof length, "Content-Length: %zu\r\nContent-Type: application/json\r\n",
                 blen);
    }
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s%s\r\n",
                      method, path, port, cred, length);
    /* A server may answer (413) before reading a large body, and close: a failed send of the
     * body is then no failure of the request. */
    if (send_all(fd, head, (size_t)hl) != 0) {
        close(fd);
        return -1;
    }
    if (body != NULL) {
        (void)send_all(fd, body, blen);
    }
    char *buf = NULL;
    size_t len = 0;
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(deadline - test_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            break;
        }
        char chunk[65536];
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r <= 0) {
            break;
        }
        char *bigger = realloc(buf, len + (size_t)r + 1);
        ck_assert_ptr_nonnull(bigger);
        buf = bigger;
        memcpy(buf + len, chunk, (size_t)r);
        len += (size_t)r;
        buf[len] = '\0';
    }
    close(fd);
    char *sep = buf != NULL ? strstr(buf, "\r\n\r\n") : NULL;
    if (sep == NULL || sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
        free(buf);
        out->status = -1;
        return -1;
    }
    *sep = '\0';
    out->headers = strdup(buf);
    out->body_len = len - (size_t)(sep + 4 - buf);
    out->body = malloc(out->body_len + 1);
    ck_assert_ptr_nonnull(out->body);
    memcpy(out->body, sep + 4, out->body_len);
    out->body[out->body_len] = '\0';
    free(buf);
    return 0;
}

int http_header(const http_resp_t *r, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line != NULL && *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        size_t ll = end != NULL ? (size_t)(end - line) : strlen(line);
        if (ll > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ') {
                v++;
            }
            snprintf(out, size, "%.*s", (int)(ll - (size_t)(v - line)), v);
            return 0;
        }
        line = end != NULL ? end + 2 : NULL;
    }
    return -1;
}

void http_resp_free(http_resp_t *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* ---- ## The site ---- */

void http_site_cleanup(http_site_t *s)
{
    test_service_cleanup(&s->svc);
    broker_cleanup(&s->broker);
    if (s->dir != NULL) {
        test_remove_tree(s->dir);
        free(s->dir);
        s->dir = NULL;
    }
}

void http_site_fail(http_site_t *s, const char *msg)
{
    char *log = test_service_log(&s->svc);
    fprintf(stderr, "---- gridems log ----\n%s---- end of gridems log ----\n",
            log != NULL ? log : "(none)\n");
    free(log);
    http_site_cleanup(s);
    ck_abort_msg("%s", msg);
    abort(); /* not reached */
}

static void write_config(http_site_t *s, const char *http_json)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    fprintf(
        f,
        "{\"site\": {\"id\": \"%s\", \"utc_offset\": \"+09:00\", \"currency\": \"JPY\",\n"
        "          \"import_limit_kw\": 20000, \"demand_charge_per_kw\": 60,\n"
        "          \"billing_period\": \"month\", \"compute_limit_kw\": 3000},\n"
        " \"mqtt\": {\"uri\": \"%s\"},\n"
        " \"http\": %s,\n"
        " \"planner\": {\"step_minutes\": 30, \"horizon_steps\": 48, \"replan_seconds\": 86400,\n"
        "             \"debounce_ms\": 200},\n"
        " \"clock\": {\"mode\": \"simulated\", \"start\": \"2023-05-08T06:00:00+09:00\",\n"
        "           \"speed\": 60},\n"
        " \"state_dir\": \"%s/state\", \"log_level\": \"info\", \"plugin_dir\": \"%s\",\n"
        " \"plugins\": [\n"
        "  {\"plugin\": \"battery_sim\", \"name\": \"bess1\", \"options\": {\n"
        "    \"topic_prefix\": \"%s/dev/bess1\", \"capacity_kwh\": 4000, \"soc_kwh\": 2000,\n"
        "    \"soc_min_kwh\": 400, \"charge_max_kw\": 2000, \"discharge_max_kw\": 2000}},\n"
        "  {\"plugin\": \"meter_sim\", \"name\": \"it_load\", \"options\": {\n"
        "    \"topic_prefix\": \"%s/dev/meter\", \"base_kw\": 9000, \"swing_kw\": 600,\n"
        "    \"utc_offset_hours\": 9}},\n"
        "  {\"plugin\": \"cluster_sim\", \"name\": \"gpu\", \"options\": {\n"
        "    \"topic_prefix\": \"%s/dev/gpu\", \"power_cap_kw\": 3000, \"jobs_per_day\": 6,\n"
        "    \"job_energy_kwh\": 4000, \"job_power_kw\": 1200}}]}\n",
        s->site, s->broker.uri, http_json, s->dir, GRIDEMS_TEST_PLUGIN_DIR, s->prefix, s->prefix,
        s->prefix);
    fclose(f);
    int rc = test_write_file(s->cfg_path, text);
    free(text);
    ck_assert_msg(rc == 0, "cannot write %s", s->cfg_path);
}

/* The first 96 half-hourly JEPX Kansai prices from 2023-05-08 00:00 JST, as a series message. */
static char *price_message(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/examples/data/jepx_kansai_2023-05-08_week.csv",
             GRIDEMS_TEST_SOURCE_DIR);
    char *text = test_read_file(path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    char *msg = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&msg, &size);
    fprintf(f, "{\"start\":\"2023-05-08T00:00:00+09:00\",\"step_minutes\":30,\"unit\":\"kWh\","
               "\"currency\":\"JPY\",\"values\":[");
    int got = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL && got < 96;
         line = strtok_r(NULL, "\n", &save)) {
        const char *comma = strchr(line, ',');
        char *end = NULL;
        double v = comma != NULL ? strtod(comma + 1, &end) : NAN;
        if (comma != NULL && end != comma + 1 && isfinite(v)) {
            fprintf(f, "%s%.17g", got++ > 0 ? "," : "", v);
        }
    }
    fprintf(f, "]}");
    fclose(f);
    free(text);
    ck_assert_int_eq(got, 96);
    return msg;
}

void http_site_start(http_site_t *s, const char *site, const char *http_json, const char *auth)
{
    memset(s, 0, sizeof *s);
    s->dir = test_make_tmpdir(site);
    snprintf(s->cfg_path, sizeof s->cfg_path, "%s/gridems.json", s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/gridems.log", s->dir);
    snprintf(s->site, sizeof s->site, "%s", site);
    snprintf(s->prefix, sizeof s->prefix, "gridems/%s", site);
    broker_start(&s->broker, site);
    write_config(s, http_json);
    test_service_start(&s->svc, s->cfg_path, s->log_path);
    const char *needle = "http: listening on http://127.0.0.1:";
    if (!test_service_wait_log(&s->svc, 0, needle, START_TIMEOUT_MS)) {
        http_site_fail(s, "the service did not say where it listens for HTTP");
    }
    char *log = test_service_log(&s->svc);
    const char *at = log != NULL ? strstr(log, needle) : NULL;
    s->port = at != NULL ? atoi(at + strlen(needle)) : 0;
    free(log);
    if (s->port <= 0) {
        http_site_fail(s, "no HTTP port in the log");
    }
    if (!test_service_wait_log(&s->svc, 0, "device bess1: first reading", START_TIMEOUT_MS)) {
        http_site_fail(s, "the battery did not report");
    }
    char *price = price_message();
    char topic[200];
    snprintf(topic, sizeof topic, "%s/in/price", s->prefix);
    wire_t *w = wire_connect(s->broker.uri, 5000);
    int rc = w != NULL ? wire_publish(w, topic, price, 1, 1, 5000) : -1;
    wire_close(w);
    free(price);
    if (rc != 0) {
        http_site_fail(s, "cannot publish the prices");
    }
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    for (;;) {
        http_resp_t r;
        int got = http_request(s->port, "GET", "/api/v1/schedule", auth, NULL, 5000, &r);
        int status = r.status;
        if (got == 0) {
            http_resp_free(&r);
        }
        if (status == 200) {
            return;
        }
        if (!test_service_running(&s->svc)) {
            http_site_fail(s, "the service ended before its first plan");
        }
        if (test_now_ms() > deadline) {
            http_site_fail(s, "GET /api/v1/schedule did not answer 200 within 20 s of the prices");
        }
        test_sleep_ms(100);
    }
}

void http_site_stop(http_site_t *s)
{
    if (test_service_signal(&s->svc, SIGTERM) != 0) {
        http_site_fail(s, "the service was no longer running");
    }
    int status = test_service_wait_exit(&s->svc, STOP_TIMEOUT_MS);
    if (status != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "SIGTERM: exit status %d (-1: still running)", status);
        http_site_fail(s, msg);
    }
    char *log = test_service_log(&s->svc);
    const char *report = test_sanitizer_report(log);
    if (report != NULL) {
        char msg[1500];
        snprintf(msg, sizeof msg, "sanitizer report in the service's log:\n%.1400s", report);
        free(log);
        http_site_fail(s, msg);
    }
    free(log);
    http_site_cleanup(s);
}
