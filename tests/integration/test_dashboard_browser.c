/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The dashboard in a real browser: Debian's chromium, headless, loads GET / of the running
 * service with the simulated site, lets the page's script fetch the JSON API and draw
 * (--virtual-time-budget), and then
 *   - its DOM (--dump-dom) must show the status ("online") and one table row per plan step, the
 *     first and last with the step times of the plan the page says it drew, and one mark in the
 *     "what binds" chart per tag the API gives for that plan;
 *   - its screenshot (--screenshot) is kept as a test artifact:
 *     <build>/test-artifacts/dashboard.png (and dashboard-dom.html beside it).
 * Skipped (77) when chromium or mosquitto is missing.
 */
#include "check_run.h"
#include "http_site.h"
#include "test_util.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static http_site_t site;
static char chromium[1024];

#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char require_msg_[3072];                                                               \
            int n_ = snprintf(require_msg_, sizeof require_msg_, "%s:%d: %s: ", __FILE__,          \
                              __LINE__, #cond);                                                    \
            snprintf(require_msg_ + n_, sizeof require_msg_ - (size_t)n_, __VA_ARGS__);            \
            http_site_fail(&site, require_msg_);                                                   \
        }                                                                                          \
    } while (0)

/* Run chromium headless on the dashboard with one more option (--dump-dom or --screenshot=...).
 * Returns its stdout (the caller frees it). */
static char *browse(const char *what, const char *profile)
{
    char url[64], user_dir[1200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", site.port);
    int n = snprintf(user_dir, sizeof user_dir, "--user-data-dir=%s", profile);
    REQUIRE(n > 0 && (size_t)n < sizeof user_dir, "profile path of %d bytes", n);
    /* timeout(1) bounds a browser that hangs; the page polls every 5 s, and 8 s of virtual time
     * covers the first fetches and drawing. */
    char *argv[] = {"/usr/bin/timeout",
                    "-k",
                    "5",
                    "90",
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--hide-scrollbars",
                    "--window-size=1280,2000",
                    "--virtual-time-budget=8000",
                    user_dir,
                    (char *)what,
                    url,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run_capture(argv, &out, &err);
    REQUIRE(rc == 0, "chromium %s: exit %d: %.1500s", what, rc, err != NULL ? err : "");
    free(err);
    return out;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* The schedule the API serves now (the caller deletes it). */
static cJSON *api_schedule(void)
{
    http_resp_t r;
    REQUIRE(http_request(site.port, "GET", "/api/v1/schedule", NULL, NULL, 5000, &r) == 0 &&
                r.status == 200,
            "GET /api/v1/schedule: %d", r.status);
    cJSON *s = cJSON_Parse(r.body);
    http_resp_free(&r);
    REQUIRE(s != NULL, "the schedule is not JSON");
    return s;
}

START_TEST(test_dashboard)
{
    http_site_start(&site, "b1-dash", "{\"listen\": \"127.0.0.1:0\"}", NULL);
    char art[1200], shot[1300], dom_path[1300], profile[1300];
    snprintf(art, sizeof art, "%s/test-artifacts", GRIDEMS_TEST_BUILD_DIR);
    mkdir(art, 0755);
    snprintf(shot, sizeof shot, "%s/dashboard.png", art);
    snprintf(dom_path, sizeof dom_path, "%s/dashboard-dom.html", art);
    snprintf(profile, sizeof profile, "%s/chromium", site.dir);

    /* The page and the API must show the same plan: a job arriving between the two can bring
     * a re-plan (reason "deviation"), so a mismatch is tried again, at most three times. */
    char *dom = NULL;
    cJSON *s = NULL;
    double drawn = -1, served = -2;
    for (int attempt = 0; attempt < 3 && drawn != served; attempt++) {
        free(dom);
        cJSON_Delete(s);
        dom = browse("--dump-dom", profile);
        REQUIRE(dom != NULL && strlen(dom) > 1000, "chromium dumped no DOM");
        test_write_file(dom_path, dom);
        const char *pid = strstr(dom, "data-plan-id=\"");
        REQUIRE(pid != NULL, "the page drew no plan (DOM in %s)", dom_path);
        drawn = atof(pid + strlen("data-plan-id=\""));
        s = api_schedule();
        const cJSON *plan_id = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "plan"), "id");
        served = cJSON_IsNumber(plan_id) ? plan_id->valuedouble : -1;
    }
    REQUIRE(drawn == served, "the page drew plan %g, the API serves plan %g", drawn, served);
    REQUIRE(strstr(dom, "<div id=\"error\"></div>") != NULL, "the page shows an error (DOM in %s)",
            dom_path);
    /* The status as the API gives it: the word in the badge, and the reason. */
    http_resp_t r;
    REQUIRE(http_request(site.port, "GET", "/api/v1/status", NULL, NULL, 5000, &r) == 0 &&
                r.status == 200,
            "GET /api/v1/status: %d", r.status);
    cJSON *st = cJSON_Parse(r.body);
    http_resp_free(&r);
    const cJSON *word = cJSON_GetObjectItem(st, "state");
    const cJSON *reason = cJSON_GetObjectItem(st, "reason");
    REQUIRE(cJSON_IsString(word) && cJSON_IsString(reason), "the status has no state or reason");
    char badge[160], why[700];
    snprintf(badge, sizeof badge, "id=\"status-state\" class=\"badge %s\">%s</span>",
             word->valuestring, word->valuestring);
    snprintf(why, sizeof why, "<span id=\"status-reason\">%s</span>", reason->valuestring);
    REQUIRE(strstr(dom, badge) != NULL && strstr(dom, why) != NULL,
            "the page does not show the status %s (%s) (DOM in %s)", word->valuestring,
            reason->valuestring, dom_path);
    cJSON_Delete(st);
    int steps = cJSON_GetObjectItem(s, "steps")->valueint;
    const cJSON *times = cJSON_GetObjectItem(s, "step_starts");
    /* A drawn row's time cell starts with the year (the script's template has "${" there). */
    REQUIRE(count(dom, "<td class=\"time\">2") == steps,
            "%d step rows in the page, %d steps in the plan", count(dom, "<td class=\"time\">2"),
            steps);
    char cell[128];
    snprintf(cell, sizeof cell, "<td class=\"time\">%s</td>",
             cJSON_GetArrayItem(times, 0)->valuestring);
    REQUIRE(strstr(dom, cell) != NULL, "no row for the first step %s", cell);
    snprintf(cell, sizeof cell, "<td class=\"time\">%s</td>",
             cJSON_GetArrayItem(times, steps - 1)->valuestring);
    REQUIRE(strstr(dom, cell) != NULL, "no row for the last step %s", cell);
    int tags = 0;
    const cJSON *step = NULL;
    cJSON_ArrayForEach(step, cJSON_GetObjectItem(s, "binds"))
    {
        tags += cJSON_GetArraySize(step);
    }
    REQUIRE(count(dom, "class=\"bind\"") == tags,
            "%d marks in the binds chart, %d tags in the plan", count(dom, "class=\"bind\""), tags);
    REQUIRE(count(dom, "<svg") >= 5, "%d charts drawn", count(dom, "<svg"));
    cJSON_Delete(s);
    free(dom);

    char opt[1400];
    snprintf(opt, sizeof opt, "--screenshot=%s", shot);
    remove(shot);
    free(browse(opt, profile));
    size_t len = 0;
    char *png = test_read_file(shot, &len);
    REQUIRE(png != NULL && len > 20000 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0,
            "no screenshot in %s (%zu bytes)", shot, len);
    free(png);
    fprintf(stderr, "test_dashboard_browser: screenshot %s (%zu bytes), DOM %s\n", shot, len,
            dom_path);
    http_site_stop(&site);
}
END_TEST

int main(void)
{
    if (!test_find_program("chromium", chromium, sizeof chromium)) {
        fprintf(stderr,
                "chromium not found (Debian package chromium): skipping the browser test\n");
        return 77;
    }
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the browser test\n");
        return 77;
    }
    Suite *s = suite_create("dashboard");
    TCase *tc = tcase_create("browser");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_dashboard);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
