/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "service_ctx.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

service_ctx_t ctx;

void service_ctx_init(const char *site)
{
    memset(&ctx, 0, sizeof ctx);
    ctx.dir = test_make_tmpdir(site);
    snprintf(ctx.cfg_path, sizeof ctx.cfg_path, "%s/gridems.json", ctx.dir);
    snprintf(ctx.log_path, sizeof ctx.log_path, "%s/gridems.log", ctx.dir);
    snprintf(ctx.state_dir, sizeof ctx.state_dir, "%s/state", ctx.dir);
    snprintf(ctx.site, sizeof ctx.site, "%s", site);
    snprintf(ctx.prefix, sizeof ctx.prefix, "gridems/%s", ctx.site);
    snprintf(ctx.t_status, sizeof ctx.t_status, "%s/status", ctx.prefix);
    snprintf(ctx.t_schedule, sizeof ctx.t_schedule, "%s/schedule", ctx.prefix);
    snprintf(ctx.t_state, sizeof ctx.t_state, "%s/state", ctx.prefix);
    snprintf(ctx.t_price, sizeof ctx.t_price, "%s/in/price", ctx.prefix);
    snprintf(ctx.t_cmd, sizeof ctx.t_cmd, "%s/cmd", ctx.prefix);
}

void service_ctx_require_plugins(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char so[SERVICE_CTX_PATH_LEN + 64];
        snprintf(so, sizeof so, "%s/gridems_%s.so", GRIDEMS_TEST_PLUGIN_DIR, names[i]);
        REQUIRE(access(so, R_OK) == 0, "%s is missing: build the target gridems_%s", so, names[i]);
    }
}

void service_ctx_release(void)
{
    test_service_cleanup(&ctx.svc);
    wire_close(ctx.bus);
    ctx.bus = NULL;
    broker_cleanup(&ctx.broker);
    if (ctx.dir != NULL) {
        test_remove_tree(ctx.dir);
        free(ctx.dir);
        ctx.dir = NULL;
    }
}

void service_ctx_abort(const char *file, int line, const char *expr, const char *msg)
{
    char *log = test_service_log(&ctx.svc);
    size_t n = log != NULL ? strlen(log) : 0;
    size_t skip = ctx.log_tail_bytes > 0 && n > ctx.log_tail_bytes ? n - ctx.log_tail_bytes : 0;
    fprintf(stderr, "---- gridems log (%s%s) ----\n%s---- end of gridems log ----\n", ctx.log_path,
            skip > 0 ? ", its end" : "", log != NULL ? log + skip : "(none)\n");
    free(log);
    if (ctx.print_broker_log) {
        log = broker_log(&ctx.broker);
        fprintf(stderr, "---- mosquitto log ----\n%s---- end of mosquitto log ----\n",
                log != NULL ? log : "(none)\n");
        free(log);
    }
    service_ctx_release();
    ck_abort_msg("%s:%d: %s: %s", file, line, expr, msg);
    abort(); /* not reached: ck_abort_msg ends the test */
}

void service_ctx_check_log_clean(void)
{
    char *log = test_service_log(&ctx.svc);
    const char *report = test_sanitizer_report(log);
    bool clean = report == NULL;
    char excerpt[1500] = "";
    if (!clean) {
        snprintf(excerpt, sizeof excerpt, "%s", report);
    }
    free(log);
    REQUIRE(clean, "sanitizer report in the service's log:\n%s", excerpt);
}

void service_ctx_finish(void)
{
    ctx.expect_running = false;
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0,
            "the service was no longer running (status %d)", ctx.svc.status);
    int status = test_service_wait_exit(&ctx.svc, SERVICE_CTX_STOP_MS);
    REQUIRE(status == 0, "SIGTERM: exit status %d (-1: still running after %d ms)", status,
            SERVICE_CTX_STOP_MS);
    service_ctx_check_log_clean();
    service_ctx_release();
}
