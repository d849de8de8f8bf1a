/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * battery_sunspec: a battery (inverter + storage) that speaks SunSpec over Modbus TCP.
 *
 * Two families of models are supported (docs/devices.md has the registers and the operator's
 * checks):
 *   legacy  an inverter model 101/102/103 (W), 124 basic storage controls (WChaMax, ChaState,
 *           MinRsvPct, StorCtl_Mod, OutWRte/InWRte, InOutWRte_RvrtTms) and 120 nameplate when
 *           present (WHRtg; else the option capacity_kwh);
 *   der     701 (W), 702 (rate limits), 704 (WSet with WSetEna, WMaxLimPct with its enable,
 *           reversion), 713 (WHRtg, SoC) and 802 (state-of-charge window, battery rate limits)
 *           when present.
 *
 * How it runs: a timer every poll_ms (real time) queues one job at a time through
 * api->queue_work. The job (pool thread) connects if needed, finds "SunS" and walks the chain on
 * a new connection, reads each model it uses in one request (a value and its scale factor from
 * the same instant), decodes it (sunspec_decode.c, pure), and, when a command is due, clamps it
 * to the limits just read, writes it, reads the control model back and compares. The done
 * callback (loop thread) posts the reading, keeps the capabilities and the connection health.
 *
 * Commands: the last set-point is written when it changes, again after a reconnect, and again
 * every revert_s/3 (real time) so that the device's own reversion timer (programmed to revert_s,
 * to zero power) never fires while gridems is alive. The safe command (zero power) replaces it
 * when the set-point's valid_until passes, when the host sends a safe-mode set-point, and when
 * the device has been silent for stale_after_ms; it is written as soon as the device answers.
 *
 * Sign convention (gridems, plugin.h): positive power discharges. SunSpec agrees on the AC
 * side: 101-103 W and 701 W are positive when the inverter injects, and 704 WSet is positive to
 * inject. 124 expresses the set-point as a window in percent of WChaMax: OutWRte = p, InWRte =
 * -p (see ss_encode_124).
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"
#include "sunspec_decode.h"
#include "sunspec_link.h"
#include "sunspec_poll.h"
#include "sunspec_regs.h"

/* ---- ## Options ---- */

typedef struct battery_opts_s {
    ss_common_opts_t common; /* first: ss_init_check reads it from the context */
    const char *family;
    int64_t revert_s;
    double capacity_kwh;
    double charge_efficiency;
    double discharge_efficiency;
    double cycle_cost_per_kwh;
} battery_opts_t;
_Static_assert(offsetof(battery_opts_t, common) == 0, "ss_init_check reads the common options");

static const gridems_option_t battery_options[] = {
    SS_COMMON_OPTIONS(battery_opts_t),
    {GRIDEMS_OPT_STRING, "family", "auto", 0, offsetof(battery_opts_t, family),
     "models to use: auto (der when 701+702+704+713 are present, else legacy), der, legacy"},
    {GRIDEMS_OPT_INT, "revert_s", "60", 0, offsetof(battery_opts_t, revert_s),
     "device reversion timeout written with each set-point, real s (10..65534); "
     "re-asserted every revert_s/3"},
    {GRIDEMS_OPT_DOUBLE, "capacity_kwh", "0", 0, offsetof(battery_opts_t, capacity_kwh),
     "usable capacity, kWh; 0 = from the device (120 WHRtg or 713 WHRtg)"},
    {GRIDEMS_OPT_DOUBLE, "charge_efficiency", "0.95", 0,
     offsetof(battery_opts_t, charge_efficiency),
     "stored / taken energy while charging, (0, 1] (SunSpec does not report it)"},
    {GRIDEMS_OPT_DOUBLE, "discharge_efficiency", "0.95", 0,
     offsetof(battery_opts_t, discharge_efficiency), "given / removed energy, (0, 1]"},
    {GRIDEMS_OPT_DOUBLE, "cycle_cost_per_kwh", "0", 0, offsetof(battery_opts_t, cycle_cost_per_kwh),
     "degradation cost per kWh discharged (>= 0)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "battery_sunspec",
    .version = "1.0",
    .description = "SunSpec battery over Modbus TCP (124 or 701/702/704/713/802)",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY),
    .options = battery_options,
    .context_size = sizeof(battery_opts_t),
};

/* ---- ## State ---- */

enum { FAM_AUTO = 0, FAM_LEGACY = 1, FAM_DER = 2 };

/* A command: the set-point gridems wants on the device. */
typedef struct cmd_s {
    int safe;
    double power_kw;
    uint64_t plan_id;
    int64_t ts;
    int64_t valid_until_ms; /* host clock, 0 = none */
} cmd_t;

/* The models a job reads, by slot. */
enum { M_INV, M_124, M_120, M_701, M_702, M_704, M_713, M_802, M_COUNT };

typedef struct battery_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const battery_opts_t *opts;
    gridems_device_id_t dev;
    gridems_timer_id_t timer;
    int want_family;

    /* link, family, inv_id, has_120 and has_802 belong to the job while busy (it writes them
     * on the pool thread); the loop reads them only in the job's done callback and later. */
    ss_link_t link;
    int busy;   /* a job is queued or running */
    int family; /* chosen at discovery */
    uint16_t inv_id;
    int has_120, has_802;

    ss_health_t health;
    int have;
    ss_battery_t st;

    int have_want;
    cmd_t want;
    int have_done; /* want was written and read back on the current connection */
    cmd_t done;
    double done_kw; /* what was written after clamping */
    int64_t done_mono;
    unsigned unconfirmed;    /* writes in a row that did not read back */
    int64_t next_write_mono; /* after an unconfirmed write: not before this (back-off) */
} battery_t;

typedef struct job_s {
    battery_t *b;
    int want_family;
    int write; /* a command is due */
    cmd_t cmd;
    uint32_t revert_s;
    double capacity_kwh;

    /* results */
    int rc;
    char err[320];
    int discovered_now;
    char used[96]; /* the models chosen at discovery, for the log */
    int read_ok;
    ss_battery_t st;
    int wrote;
    double written_kw;
    int verified;
    char verify_err[200];
    uint16_t img[M_COUNT][SS_MODEL_READ_MAX];
    size_t n[M_COUNT];
} job_t;

/* ---- ## Pool thread ---- */

static int choose_family(job_t *j, char *used, size_t usedlen)
{
    battery_t *b = j->b;
    const ss_chain_t *c = &b->link.chain;
    int der = ss_chain_find(c, 701) && ss_chain_find(c, 702) && ss_chain_find(c, 704) &&
              ss_chain_find(c, 713);
    uint16_t inv = ss_chain_find(c, 103)   ? 103
                   : ss_chain_find(c, 102) ? 102
                   : ss_chain_find(c, 101) ? 101
                                           : 0;
    int legacy = inv != 0 && ss_chain_find(c, 124) != NULL;
    b->has_120 = ss_chain_find(c, 120) != NULL;
    b->has_802 = ss_chain_find(c, 802) != NULL;
    b->inv_id = inv;
    if ((j->want_family == FAM_DER || j->want_family == FAM_AUTO) && der) {
        b->family = FAM_DER;
        snprintf(used, usedlen, "701 702 704 713%s (der family)", b->has_802 ? " 802" : "");
        return 0;
    }
    if ((j->want_family == FAM_LEGACY || j->want_family == FAM_AUTO) && legacy) {
        b->family = FAM_LEGACY;
        snprintf(used, usedlen, "%u 124%s (legacy family)", (unsigned)inv,
                 b->has_120 ? " 120" : "");
        return 0;
    }
    snprintf(j->err, sizeof j->err, "no supported battery models (%s family needs %s)",
             j->want_family == FAM_DER      ? "the der"
             : j->want_family == FAM_LEGACY ? "the legacy"
                                            : "a",
             j->want_family == FAM_DER      ? "701, 702, 704 and 713"
             : j->want_family == FAM_LEGACY ? "101, 102 or 103 and 124"
                                            : "701+702+704+713, or 101/102/103+124");
    return -1;
}

static int read_slot(job_t *j, int slot, uint16_t id, unsigned want)
{
    return ss_link_read_model(&j->b->link, id, want, j->img[slot], &j->n[slot], j->err,
                              sizeof j->err);
}

static ss_block_t blk(const job_t *j, int slot)
{
    ss_block_t r = {j->n[slot] ? j->img[slot] : NULL, j->n[slot]};
    return r;
}

static int read_all(job_t *j)
{
    battery_t *b = j->b;
    memset(j->n, 0, sizeof j->n);
    if (b->family == FAM_LEGACY) {
        if (read_slot(j, M_INV, b->inv_id, SS_MODEL_READ_MAX) < 0 ||
            read_slot(j, M_124, 124, SS124_LEN) < 0 ||
            (b->has_120 && read_slot(j, M_120, 120, SS_MODEL_READ_MAX) < 0)) {
            return -1;
        }
        ss_block_t inv = blk(j, M_INV), m124 = blk(j, M_124), m120 = blk(j, M_120);
        return ss_decode_legacy(&inv, &m124, b->has_120 ? &m120 : NULL, j->capacity_kwh, &j->st,
                                j->err, sizeof j->err);
    }
    if (read_slot(j, M_701, 701, SS701_READ_LEN) < 0 ||
        read_slot(j, M_702, 702, SS702_READ_LEN) < 0 ||
        read_slot(j, M_704, 704, SS704_READ_LEN) < 0 ||
        read_slot(j, M_713, 713, SS713_READ_LEN) < 0 ||
        (b->has_802 && read_slot(j, M_802, 802, SS802_READ_LEN) < 0)) {
        return -1;
    }
    ss_block_t m701 = blk(j, M_701), m702 = blk(j, M_702), m704 = blk(j, M_704),
               m713 = blk(j, M_713), m802 = blk(j, M_802);
    int rc = ss_decode_der(&m701, &m702, &m704, &m713, b->has_802 ? &m802 : NULL, &j->st, j->err,
                           sizeof j->err);
    if (rc == 0 && j->capacity_kwh > 0) {
        double k = j->capacity_kwh / j->st.capacity_kwh; /* the operator's capacity wins */
        j->st.capacity_kwh = j->capacity_kwh;
        j->st.soc_kwh *= k;
        j->st.soc_min_kwh *= k;
        j->st.soc_max_kwh *= k;
    }
    return rc;
}

/* Write the command, read the control model back, compare. */
static int write_cmd(job_t *j)
{
    battery_t *b = j->b;
    double kw = j->cmd.safe ? 0.0 : ss_clamp_power(&j->st, j->cmd.power_kw);
    ss_write_t w[2];
    int slot = b->family == FAM_LEGACY ? M_124 : M_704;
    uint16_t id = b->family == FAM_LEGACY ? 124 : 704;
    ss_block_t cur = blk(j, slot);
    int rc = b->family == FAM_LEGACY
                 ? ss_encode_124(kw, j->revert_s, &cur, w, j->err, sizeof j->err)
                 : ss_encode_704(kw, j->revert_s, &cur, w, j->err, sizeof j->err);
    if (rc < 0) {
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (ss_link_write(&b->link, id, &w[i], j->err, sizeof j->err) < 0) {
            return -1;
        }
    }
    j->wrote = 1;
    j->written_kw = kw;
    if (read_slot(j, slot, id, b->family == FAM_LEGACY ? SS124_LEN : SS704_READ_LEN) < 0) {
        return -1;
    }
    ss_block_t back = blk(j, slot);
    for (int i = 0; i < 2; i++) {
        if (!ss_verify(&w[i], &back)) {
            snprintf(j->verify_err, sizeof j->verify_err,
                     "model %u offset %u..%u reads back different from what was written",
                     (unsigned)id, w[i].off, w[i].off + w[i].n - 1);
            return 0;
        }
    }
    j->verified = 1;
    return 0;
}

static void job_work(gridems_plugin_t *self, void *arg)
{
    (void)self;
    job_t *j = arg;
    battery_t *b = j->b;
    j->rc = -1;
    if (ss_link_ensure(&b->link, &j->discovered_now, j->err, sizeof j->err) < 0) {
        return;
    }
    if (j->discovered_now) {
        b->family = 0;
    }
    if (b->family == 0) {
        /* The choice is logged by the done callback, with the rest of the job's outcome. */
        if (choose_family(j, j->used, sizeof j->used) < 0) {
            ss_link_close(&b->link);
            return;
        }
    }
    if (read_all(j) < 0) {
        ss_link_close(&b->link);
        return;
    }
    j->read_ok = 1;
    if (j->write && write_cmd(j) < 0) {
        ss_link_close(&b->link);
        return;
    }
    j->rc = 0;
}

/* ---- ## Loop thread ---- */

static int same_cmd(const cmd_t *a, const cmd_t *b)
{
    return a->safe == b->safe && a->plan_id == b->plan_id && a->ts == b->ts &&
           (a->safe || a->power_kw == b->power_kw);
}

static void post(battery_t *b)
{
    gridems_measurement_t m = {
        .struct_size = sizeof m,
        .device = b->dev,
        .timestamp_ms = b->health.ok_host_ms,
        .valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC,
        .power_kw = b->st.power_kw,
        .soc_kwh = b->st.soc_kwh,
    };
    int rc = b->api->post_measurement(b->self, &m);
    if (rc < 0) {
        b->api->log(b->self, GRIDEMS_PLUGIN_LOG_DEBUG, "post_measurement: error %d", rc);
    }
}

static void job_done(gridems_plugin_t *self, int status, void *arg)
{
    (void)self;
    job_t *j = arg;
    battery_t *b = j->b;
    b->busy = 0;
    if (status == GRIDEMS_ECANCELED) {
        free(j);
        return;
    }
    int64_t now = b->api->now_ms(b->self);
    if (j->discovered_now && j->read_ok) {
        ss_log_discovery(b->api, b->self, &b->link, j->used);
        b->have_done = 0; /* a new connection: the device may have restarted, write again */
    }
    if (!j->read_ok) {
        if (j->discovered_now) {
            b->have_done = 0;
        }
        ss_health_fail(&b->health, b->api, b->self, &b->opts->common, now, j->err);
        free(j);
        return;
    }
    ss_health_ok(&b->health, b->api, b->self, now);
    b->st = j->st;
    b->have = 1;
    post(b);
    if (j->wrote && j->written_kw != j->cmd.power_kw && !j->cmd.safe) {
        b->api->log(b->self, GRIDEMS_PLUGIN_LOG_NOTICE,
                    "set-point %g kW clamped to %g kW (device limits -%g..+%g kW)", j->cmd.power_kw,
                    j->written_kw, j->st.charge_max_kw, j->st.discharge_max_kw);
    }
    if (j->rc < 0) {
        b->api->log(b->self, GRIDEMS_PLUGIN_LOG_WARNING, "writing the %s failed: %s",
                    j->cmd.safe ? "safe command" : "set-point", j->err);
        b->have_done = 0;
        ss_health_fail(&b->health, b->api, b->self, &b->opts->common, now, j->err);
    } else if (j->wrote && !j->verified) {
        /* The device took the write but holds other values (local mode, a read-only control):
         * try again with the reconnect back-off, saying so once per run of failures. */
        b->api->log(b->self,
                    b->unconfirmed == 0 ? GRIDEMS_PLUGIN_LOG_WARNING : GRIDEMS_PLUGIN_LOG_DEBUG,
                    "write not confirmed: %s", j->verify_err);
        b->have_done = 0;
        int64_t wait = b->opts->common.poll_ms;
        for (unsigned i = 0; i < b->unconfirmed && wait < b->opts->common.reconnect_max_ms; i++) {
            wait *= 2;
        }
        if (wait > b->opts->common.reconnect_max_ms) {
            wait = b->opts->common.reconnect_max_ms;
        }
        b->unconfirmed++;
        b->next_write_mono = ss_mono_ms() + wait;
    } else if (j->wrote) {
        b->unconfirmed = 0;
        int first = !b->have_done || !same_cmd(&b->done, &j->cmd);
        b->api->log(b->self, first ? GRIDEMS_PLUGIN_LOG_INFO : GRIDEMS_PLUGIN_LOG_DEBUG,
                    "%s written and read back: %g kW (plan %" PRIu64 ")",
                    j->cmd.safe ? "safe command (hold at 0 kW)" : "set-point", j->written_kw,
                    j->cmd.plan_id);
        b->have_done = 1;
        b->done = j->cmd;
        b->done_kw = j->written_kw;
        b->done_mono = ss_mono_ms();
    }
    free(j);
}

static void go_safe(battery_t *b, const char *why)
{
    if (b->have_want && b->want.safe) {
        return;
    }
    b->api->log(b->self, GRIDEMS_PLUGIN_LOG_NOTICE, "safe mode (%s): holding at 0 kW", why);
    cmd_t c = {.safe = 1,
               .plan_id = b->have_want ? b->want.plan_id : 0,
               .ts = b->have_want ? b->want.ts : 0};
    b->want = c;
    b->have_want = 1;
}

static void start_job(battery_t *b)
{
    /* The command to hold is decided on every poll, also while a job runs or the reconnect
     * back-off waits, so that the safe command is the first thing written on return. */
    int64_t now = b->api->now_ms(b->self);
    if (ss_health_stale(&b->health, b->api, b->self, &b->opts->common, now)) {
        go_safe(b, "device silent for stale_after_ms; written when it answers again");
    }
    if (b->have_want && !b->want.safe && b->want.valid_until_ms > 0 &&
        now >= b->want.valid_until_ms) {
        go_safe(b, "the set-point's valid_until passed without a newer one");
    }
    if (b->busy || !ss_health_may_try(&b->health)) {
        return;
    }
    job_t *j = calloc(1, sizeof *j);
    if (j == NULL) {
        return;
    }
    j->b = b;
    j->want_family = b->want_family;
    j->revert_s = (uint32_t)b->opts->revert_s;
    j->capacity_kwh = b->opts->capacity_kwh;
    if (b->have_want) {
        int64_t refresh_ms = b->opts->revert_s * 1000 / 3;
        int64_t mono = ss_mono_ms();
        j->write =
            (!b->have_done || !same_cmd(&b->done, &b->want) || mono - b->done_mono >= refresh_ms) &&
            (b->unconfirmed == 0 || mono >= b->next_write_mono);
        j->cmd = b->want;
    }
    if (b->api->queue_work(b->self, job_work, job_done, j) < 0) {
        free(j);
        return;
    }
    b->busy = 1;
}

static void on_timer(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    start_job(arg);
}

static int dev_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    battery_t *b = userdata;
    if (!b->have) {
        return GRIDEMS_EAGAIN;
    }
    out->stale_after_ms = (uint32_t)b->opts->common.stale_after_ms;
    out->measured_ms = b->health.ok_host_ms;
    gridems_battery_caps_t *c = &out->u.battery;
    c->capacity_kwh = b->st.capacity_kwh;
    c->soc_kwh = b->st.soc_kwh;
    c->soc_min_kwh = b->st.soc_min_kwh;
    c->soc_max_kwh = b->st.soc_max_kwh;
    c->charge_max_kw = b->st.charge_max_kw;
    c->discharge_max_kw = b->st.discharge_max_kw;
    c->charge_efficiency = b->opts->charge_efficiency;
    c->discharge_efficiency = b->opts->discharge_efficiency;
    c->cycle_cost_per_kwh = b->opts->cycle_cost_per_kwh;
    return 0;
}

static int dev_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    battery_t *b = userdata;
    if (!sp->safe_mode && !isfinite(sp->power_kw)) {
        return GRIDEMS_EINVAL;
    }
    cmd_t c = {.safe = sp->safe_mode != 0,
               .power_kw = sp->safe_mode ? 0.0 : sp->power_kw,
               .plan_id = sp->plan_id,
               .ts = sp->timestamp_ms,
               .valid_until_ms = sp->valid_until_ms};
    if (b->have_want && same_cmd(&b->want, &c)) {
        return 0; /* a repeat: already wanted (and written, or about to be) */
    }
    if (c.safe && !(b->have_want && b->want.safe)) {
        b->api->log(b->self, GRIDEMS_PLUGIN_LOG_NOTICE,
                    "safe-mode set-point from the service: holding at 0 kW");
    }
    b->want = c;
    b->have_want = 1;
    start_job(b); /* write now rather than at the next poll */
    return 0;
}

static int dev_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    battery_t *b = userdata;
    if (ev->type == GRIDEMS_EVT_SHUTDOWN) {
        /* Best effort: the job may be cancelled by the unload; the device's own reversion
         * (to 0 W after revert_s) covers that case. */
        go_safe(b, "service shutting down");
        start_job(b);
    }
    return 0;
}

static void dev_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    battery_t *b = userdata;
    ss_link_close(&b->link); /* no job runs any more: the host waited for them */
    free(b);
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    int rc = ss_init_check(api, self, cfg);
    if (rc < 0) {
        return rc;
    }
    const battery_opts_t *o = cfg->context;
    int fam;
    if (strcmp(o->family, "auto") == 0) {
        fam = FAM_AUTO;
    } else if (strcmp(o->family, "der") == 0) {
        fam = FAM_DER;
    } else if (strcmp(o->family, "legacy") == 0) {
        fam = FAM_LEGACY;
    } else {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"family\" must be auto, der or legacy (got \"%s\")", o->family);
        return GRIDEMS_ECONFIG;
    }
    if (o->revert_s < 10 || o->revert_s > 65534) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"revert_s\" must be in 10..65534 (got %" PRId64 ")", o->revert_s);
        return GRIDEMS_ECONFIG;
    }
    if (o->revert_s * 1000 / 3 <= o->common.poll_ms) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"revert_s\" must exceed 3 poll intervals (poll_ms %" PRId64
                 "), or the watchdog cannot re-assert in time (got %" PRId64 ")",
                 o->common.poll_ms, o->revert_s);
        return GRIDEMS_ECONFIG;
    }
    if (o->capacity_kwh < 0 || !(o->charge_efficiency > 0 && o->charge_efficiency <= 1) ||
        !(o->discharge_efficiency > 0 && o->discharge_efficiency <= 1) ||
        o->cycle_cost_per_kwh < 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "options: capacity_kwh must be >= 0, the efficiencies in (0, 1], "
                 "cycle_cost_per_kwh >= 0 (got %g, %g, %g, %g)",
                 o->capacity_kwh, o->charge_efficiency, o->discharge_efficiency,
                 o->cycle_cost_per_kwh);
        return GRIDEMS_ECONFIG;
    }
    battery_t *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return GRIDEMS_ENOMEM;
    }
    b->self = self;
    b->api = api;
    b->opts = o;
    b->want_family = fam;
    ss_link_setup(&b->link, &o->common);
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .klass = GRIDEMS_DEV_BATTERY,
        .options = battery_options,
        .get_capabilities = dev_caps,
        .apply_setpoint = dev_setpoint,
        .on_event = dev_event,
        .destroy = dev_destroy,
    };
    rc = ss_register_polled(api, self, &o->common, &desc, b, &b->dev, on_timer, &b->timer);
    if (rc < 0) {
        return rc;
    }
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
             "SunSpec battery at %s:%" PRId64 " unit %" PRId64 ", polled every %" PRId64
             " ms, family %s",
             o->common.host, o->common.port, o->common.unit_id, o->common.poll_ms, o->family);
    return 0;
}
