/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Pure SunSpec decoding and encoding; see sunspec_decode.h. */
#include "sunspec_decode.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sunspec_regs.h"

#define NI_I16 0x8000u
#define NI_U16 0xFFFFu

int ss_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int has(const ss_block_t *b, unsigned off, unsigned regs)
{
    return b != NULL && b->r != NULL && (size_t)off + regs <= b->n;
}

static uint32_t u32_at(const ss_block_t *b, unsigned off)
{
    return ((uint32_t)b->r[off] << 16) | b->r[off + 1];
}

/* 10^sf for the small integer exponents SunSpec uses (exact for the negative ones we print). */
static double pow10i(int sf)
{
    return pow(10.0, (double)sf);
}

int ss_sf(const ss_block_t *b, unsigned off, int *sf)
{
    if (!has(b, off, 1) || b->r[off] == NI_I16) {
        return 0;
    }
    int v = (int16_t)b->r[off];
    if (v < -10 || v > 10) {
        return 0; /* no real device scales by more than 10^10: a garbage register */
    }
    *sf = v;
    return 1;
}

static int scaled(const ss_block_t *b, unsigned sf_off, double raw, double *out)
{
    int sf;
    if (!ss_sf(b, sf_off, &sf)) {
        return 0;
    }
    *out = raw * pow10i(sf);
    return 1;
}

int ss_u16(const ss_block_t *b, unsigned off, unsigned sf_off, double *out)
{
    if (!has(b, off, 1) || b->r[off] == NI_U16) {
        return 0;
    }
    return scaled(b, sf_off, (double)b->r[off], out);
}

int ss_i16(const ss_block_t *b, unsigned off, unsigned sf_off, double *out)
{
    if (!has(b, off, 1) || b->r[off] == NI_I16) {
        return 0;
    }
    return scaled(b, sf_off, (double)(int16_t)b->r[off], out);
}

int ss_acc32(const ss_block_t *b, unsigned off, unsigned sf_off, double *out)
{
    if (!has(b, off, 2)) {
        return 0;
    }
    uint32_t v = u32_at(b, off);
    if (v == 0) {
        return 0; /* an accumulator reads 0 when not implemented */
    }
    return scaled(b, sf_off, (double)v, out);
}

int ss_i32(const ss_block_t *b, unsigned off, unsigned sf_off, double *out)
{
    if (!has(b, off, 2)) {
        return 0;
    }
    uint32_t v = u32_at(b, off);
    if (v == 0x80000000u) {
        return 0;
    }
    return scaled(b, sf_off, (double)(int32_t)v, out);
}

int ss_enum16(const ss_block_t *b, unsigned off, unsigned *out)
{
    if (!has(b, off, 1) || b->r[off] == NI_U16) {
        return 0;
    }
    *out = b->r[off];
    return 1;
}

static int u32_plain(const ss_block_t *b, unsigned off, uint32_t *out)
{
    if (!has(b, off, 2) || u32_at(b, off) == 0xFFFFFFFFu) {
        return 0;
    }
    *out = u32_at(b, off);
    return 1;
}

int ss_encode(double value, int sf, int64_t lo, int64_t hi, int64_t *raw)
{
    if (!isfinite(value)) {
        return 0;
    }
    double r = round(value / pow10i(sf));
    if (r < (double)lo || r > (double)hi) {
        return 0;
    }
    *raw = (int64_t)r;
    return 1;
}

/* ---- ## The model chain ---- */

const ss_model_ref_t *ss_chain_find(const ss_chain_t *c, uint16_t id)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->m[i].id == id) {
            return &c->m[i];
        }
    }
    return NULL;
}

void ss_chain_describe(const ss_chain_t *c, char *buf, size_t len)
{
    size_t at = 0;
    if (len == 0) {
        return;
    }
    buf[0] = '\0';
    for (unsigned i = 0; i < c->n && at < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%u", i ? " " : "", (unsigned)c->m[i].id);
        if (w < 0) {
            break;
        }
        at += (size_t)w;
    }
}

/* ---- ## Devices ---- */

static int check_battery(ss_battery_t *o, char *err, size_t errlen)
{
    if (!(o->capacity_kwh > 0)) {
        return ss_fail(err, errlen, "capacity must be > 0 kWh, got %g", o->capacity_kwh);
    }
    if (o->soc_min_kwh < 0 || o->soc_min_kwh > o->soc_max_kwh || o->soc_max_kwh > o->capacity_kwh) {
        return ss_fail(err, errlen, "state-of-charge window %g..%g kWh is not within 0..%g",
                       o->soc_min_kwh, o->soc_max_kwh, o->capacity_kwh);
    }
    /* The stored energy may read slightly outside the window; gridems wants it inside 0..cap. */
    if (o->soc_kwh < 0) {
        o->soc_kwh = 0;
    }
    if (o->soc_kwh > o->capacity_kwh) {
        o->soc_kwh = o->capacity_kwh;
    }
    if (o->charge_max_kw < 0 || o->discharge_max_kw < 0) {
        return ss_fail(err, errlen, "negative rate limit (charge %g kW, discharge %g kW)",
                       o->charge_max_kw, o->discharge_max_kw);
    }
    return 0;
}

int ss_decode_legacy(const ss_block_t *inv, const ss_block_t *m124, const ss_block_t *m120,
                     double capacity_kwh, ss_battery_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    double w, wchamax, soc_pct, rsv_pct = 0, wh;
    if (!ss_i16(inv, SS10X_W, SS10X_W_SF, &w)) {
        return ss_fail(err, errlen, "inverter W (or W_SF) is not implemented");
    }
    if (!ss_u16(m124, SS124_WCHAMAX, SS124_WCHAMAX_SF, &wchamax)) {
        return ss_fail(err, errlen, "124 WChaMax (or WChaMax_SF) is not implemented");
    }
    if (!ss_u16(m124, SS124_CHASTATE, SS124_CHASTATE_SF, &soc_pct)) {
        return ss_fail(err, errlen, "124 ChaState (or ChaState_SF) is not implemented");
    }
    (void)ss_u16(m124, SS124_MINRSVPCT, SS124_MINRSVPCT_SF, &rsv_pct); /* absent = no reserve */
    if (capacity_kwh > 0) {
        out->capacity_kwh = capacity_kwh;
    } else if (m120 != NULL && ss_u16(m120, SS120_WHRTG, SS120_WHRTG_SF, &wh)) {
        out->capacity_kwh = wh / 1000.0;
    } else {
        return ss_fail(err, errlen, "no capacity: 120 WHRtg is absent and capacity_kwh is not set");
    }
    if (soc_pct < 0 || soc_pct > 100 || rsv_pct < 0 || rsv_pct > 100) {
        return ss_fail(err, errlen, "124 ChaState %g %% or MinRsvPct %g %% is outside 0..100",
                       soc_pct, rsv_pct);
    }
    out->power_kw = w / 1000.0;
    out->soc_kwh = out->capacity_kwh * soc_pct / 100.0;
    out->soc_min_kwh = out->capacity_kwh * rsv_pct / 100.0;
    out->soc_max_kwh = out->capacity_kwh;
    out->charge_max_kw = wchamax / 1000.0;
    out->discharge_max_kw = wchamax / 1000.0; /* 124's rates are both percentages of WChaMax */
    if (has(m124, SS124_RVRTTMS, 1) && m124->r[SS124_RVRTTMS] != NI_U16) {
        out->revert_s = m124->r[SS124_RVRTTMS];
    }
    return check_battery(out, err, errlen);
}

/* The smaller of the limits that are present; -1 when none is. */
static double min_present(const double *v, const int *ok, int n)
{
    double best = -1;
    for (int i = 0; i < n; i++) {
        if (ok[i] && v[i] >= 0 && (best < 0 || v[i] < best)) {
            best = v[i];
        }
    }
    return best;
}

int ss_decode_der(const ss_block_t *m701, const ss_block_t *m702, const ss_block_t *m704,
                  const ss_block_t *m713, const ss_block_t *m802, ss_battery_t *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    double w, whrtg, soc_pct;
    if (!ss_i16(m701, SS701_W, SS701_W_SF, &w)) {
        return ss_fail(err, errlen, "701 W (or W_SF) is not implemented");
    }
    if (!ss_u16(m713, SS713_WHRTG, SS713_WH_SF, &whrtg)) {
        return ss_fail(err, errlen, "713 WHRtg (or WH_SF) is not implemented");
    }
    if (!ss_u16(m713, SS713_SOC, SS713_PCT_SF, &soc_pct)) {
        return ss_fail(err, errlen, "713 SoC (or Pct_SF) is not implemented");
    }
    if (soc_pct < 0 || soc_pct > 100) {
        return ss_fail(err, errlen, "713 SoC %g %% is outside 0..100", soc_pct);
    }
    /* Charge limit: the setting, else the rating, of 702; 802's own limit when lower. */
    double cha[3], dis[4];
    int cha_ok[3], dis_ok[4];
    cha_ok[0] = ss_u16(m702, SS702_WCHARTEMAX, SS702_W_SF, &cha[0]);
    cha_ok[1] = !cha_ok[0] && ss_u16(m702, SS702_WCHARTEMAXRTG, SS702_W_SF, &cha[1]);
    cha_ok[2] = m802 != NULL && ss_u16(m802, SS802_WCHARTEMAX, SS802_WCHADISCHAMAX_SF, &cha[2]);
    dis_ok[0] = ss_u16(m702, SS702_WDISCHARTEMAX, SS702_W_SF, &dis[0]);
    dis_ok[1] = !dis_ok[0] && ss_u16(m702, SS702_WDISCHARTEMAXRTG, SS702_W_SF, &dis[1]);
    dis_ok[2] = m802 != NULL && ss_u16(m802, SS802_WDISCHARTEMAX, SS802_WCHADISCHAMAX_SF, &dis[2]);
    /* WMaxLimPct, while enabled, limits what the DER injects to that share of WMax. */
    double wmax, pct;
    unsigned ena;
    dis_ok[3] = 0;
    if (ss_enum16(m704, SS704_WMAXLIMPCTENA, &ena) && ena == 1 &&
        ss_u16(m704, SS704_WMAXLIMPCT, SS704_WMAXLIMPCT_SF, &pct) &&
        (ss_u16(m702, SS702_WMAX, SS702_W_SF, &wmax) ||
         ss_u16(m702, SS702_WMAXRTG, SS702_W_SF, &wmax))) {
        dis[3] = wmax * pct / 100.0;
        dis_ok[3] = 1;
    }
    double c = min_present(cha, cha_ok, 3), d = min_present(dis, dis_ok, 4);
    if (c < 0) {
        return ss_fail(err, errlen,
                       "no charge limit: 702 WChaRteMax/WChaRteMaxRtg and 802 "
                       "WChaRteMax are absent");
    }
    if (d < 0) {
        return ss_fail(err, errlen,
                       "no discharge limit: 702 WDisChaRteMax/WDisChaRteMaxRtg and "
                       "802 WDisChaRteMax are absent");
    }
    out->power_kw = w / 1000.0;
    out->capacity_kwh = whrtg / 1000.0;
    out->soc_kwh = out->capacity_kwh * soc_pct / 100.0;
    out->soc_min_kwh = 0;
    out->soc_max_kwh = out->capacity_kwh;
    double lo, hi;
    if (m802 != NULL && ss_u16(m802, SS802_SOCMIN, SS802_SOC_SF, &lo) && lo >= 0 && lo <= 100) {
        out->soc_min_kwh = out->capacity_kwh * lo / 100.0;
    }
    if (m802 != NULL && ss_u16(m802, SS802_SOCMAX, SS802_SOC_SF, &hi) && hi >= 0 && hi <= 100) {
        out->soc_max_kwh = out->capacity_kwh * hi / 100.0;
    }
    out->charge_max_kw = c / 1000.0;
    out->discharge_max_kw = d / 1000.0;
    uint32_t rv;
    if (u32_plain(m704, SS704_WSETRVRTTMS, &rv)) {
        out->revert_s = rv;
    }
    return check_battery(out, err, errlen);
}

int ss_decode_meter(const ss_block_t *m, ss_meter_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    double w;
    if (!ss_i16(m, SS20X_W, SS20X_W_SF, &w)) {
        return ss_fail(err, errlen, "meter W (or W_SF) is not implemented");
    }
    out->power_kw = w / 1000.0;
    double wh;
    if (ss_acc32(m, SS20X_TOTWHIMP, SS20X_TOTWH_SF, &wh)) {
        out->import_kwh = wh / 1000.0;
        out->has |= SS_HAS_IMPORT;
    }
    if (ss_acc32(m, SS20X_TOTWHEXP, SS20X_TOTWH_SF, &wh)) {
        out->export_kwh = wh / 1000.0;
        out->has |= SS_HAS_EXPORT;
    }
    return 0;
}

/* ---- ## Controls ---- */

double ss_clamp_power(const ss_battery_t *b, double power_kw)
{
    if (power_kw > b->discharge_max_kw) {
        return b->discharge_max_kw;
    }
    if (power_kw < -b->charge_max_kw) {
        return -b->charge_max_kw;
    }
    return power_kw;
}

int ss_encode_124(double power_kw, uint32_t revert_s, const ss_block_t *m124, ss_write_t w[2],
                  char *err, size_t errlen)
{
    double wchamax;
    int sf;
    if (!ss_u16(m124, SS124_WCHAMAX, SS124_WCHAMAX_SF, &wchamax) || !(wchamax > 0)) {
        return ss_fail(err, errlen, "124 WChaMax is absent or 0: the rates cannot be set");
    }
    if (!ss_sf(m124, SS124_INOUTWRTE_SF, &sf)) {
        return ss_fail(err, errlen, "124 InOutWRte_SF is not implemented: the rates cannot be set");
    }
    if (revert_s > 0xFFFEu) {
        return ss_fail(err, errlen, "revert time %u s does not fit 124 InOutWRte_RvrtTms",
                       (unsigned)revert_s);
    }
    double pct = power_kw * 1000.0 / wchamax * 100.0;
    if (pct > 100) {
        pct = 100;
    }
    if (pct < -100) {
        pct = -100;
    }
    int64_t out_raw, in_raw;
    /* int16 without the 0x8000 sentinel */
    if (!ss_encode(pct, sf, -32767, 32767, &out_raw) ||
        !ss_encode(-pct, sf, -32767, 32767, &in_raw)) {
        return ss_fail(err, errlen, "%g %% does not fit 124 OutWRte/InWRte with scale 10^%d", pct,
                       sf);
    }
    uint16_t win = has(m124, SS124_RVRTTMS - 1, 1) ? m124->r[SS124_RVRTTMS - 1] : 0;
    w[0].off = SS124_OUTWRTE;
    w[0].n = 4; /* OutWRte, InWRte, InOutWRte_WinTms (kept as read), InOutWRte_RvrtTms */
    w[0].v[0] = (uint16_t)(int16_t)out_raw;
    w[0].v[1] = (uint16_t)(int16_t)in_raw;
    w[0].v[2] = win;
    w[0].v[3] = (uint16_t)revert_s;
    w[1].off = SS124_STORCTL_MOD;
    w[1].n = 1;
    w[1].v[0] = 3; /* CHARGE | DISCHARGE limits active */
    return 0;
}

int ss_encode_704(double power_kw, uint32_t revert_s, const ss_block_t *m704, ss_write_t w[2],
                  char *err, size_t errlen)
{
    int sf;
    if (!ss_sf(m704, SS704_WSET_SF, &sf)) {
        return ss_fail(err, errlen, "704 WSet_SF is not implemented: WSet cannot be set");
    }
    int64_t raw;
    if (!ss_encode(power_kw * 1000.0, sf, -2147483647, 2147483647, &raw)) {
        return ss_fail(err, errlen, "%g kW does not fit 704 WSet with scale 10^%d", power_kw, sf);
    }
    uint32_t u = (uint32_t)(int32_t)raw;
    w[0].off = SS704_WSETENA;
    w[0].n = 6; /* WSetEna, WSetMod, WSet (2), WSetRvrt (2) */
    w[0].v[0] = 1;
    w[0].v[1] = SS704_WSETMOD_WATTS;
    w[0].v[2] = (uint16_t)(u >> 16);
    w[0].v[3] = (uint16_t)(u & 0xFFFFu);
    w[0].v[4] = 0;
    w[0].v[5] = 0;
    w[1].off = SS704_WSETENARVRT;
    w[1].n = 3; /* WSetEnaRvrt, WSetRvrtTms (2) */
    w[1].v[0] = 1;
    w[1].v[1] = (uint16_t)(revert_s >> 16);
    w[1].v[2] = (uint16_t)(revert_s & 0xFFFFu);
    return 0;
}

int ss_verify(const ss_write_t *w, const ss_block_t *b)
{
    if (!has(b, w->off, w->n)) {
        return 0;
    }
    return memcmp(b->r + w->off, w->v, w->n * sizeof w->v[0]) == 0;
}
