/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The SunSpec plugins' pure decoder (plugins/sunspec_common/sunspec_decode.c): scale factors of
 * both signs, every "not implemented" sentinel, word order, the two battery families, the meter,
 * and the encoding of the controls (124's rate window, 704's WSet) with their read-back check.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "sunspec_decode.h"
#include "sunspec_regs.h"

#define NEAR(a, b)                                                                                 \
    ck_assert_msg(fabs((a) - (b)) < 1e-9, "%s = %.12g, expected %.12g", #a, (double)(a),           \
                  (double)(b))

static uint16_t r[128];
static ss_block_t blk = {r, 128};

static void clear(void)
{
    memset(r, 0, sizeof r);
}

START_TEST(test_scale_factors)
{
    clear();
    int sf = 99;
    r[5] = (uint16_t)-3;
    ck_assert(ss_sf(&blk, 5, &sf) && sf == -3);
    r[5] = 2;
    ck_assert(ss_sf(&blk, 5, &sf) && sf == 2);
    r[5] = 0x8000; /* not implemented */
    ck_assert(!ss_sf(&blk, 5, &sf));
    r[5] = 11; /* no device scales by 10^11: garbage, absent */
    ck_assert(!ss_sf(&blk, 5, &sf));
    ss_block_t shortb = {r, 5};
    ck_assert(!ss_sf(&shortb, 5, &sf)); /* outside the image */
}
END_TEST

START_TEST(test_points_and_sentinels)
{
    clear();
    double v;
    r[1] = (uint16_t)-2;
    r[2] = 12345; /* u16 x 10^-2 */
    ck_assert(ss_u16(&blk, 2, 1, &v));
    NEAR(v, 123.45);
    r[2] = 0xFFFF;
    ck_assert(!ss_u16(&blk, 2, 1, &v));
    r[3] = (uint16_t)-1500; /* i16 */
    ck_assert(ss_i16(&blk, 3, 1, &v));
    NEAR(v, -15.0);
    r[3] = 0x8000;
    ck_assert(!ss_i16(&blk, 3, 1, &v));
    r[3] = 7;
    r[1] = 0x8000; /* the value is fine, its scale factor is not implemented */
    ck_assert(!ss_i16(&blk, 3, 1, &v));
    r[1] = 3;
    r[10] = 0x0001; /* acc32, high word first: 0x00010002 = 65538 */
    r[11] = 0x0002;
    ck_assert(ss_acc32(&blk, 10, 1, &v));
    NEAR(v, 65538000.0);
    r[10] = r[11] = 0; /* an accumulator reads 0 when not implemented */
    ck_assert(!ss_acc32(&blk, 10, 1, &v));
    r[1] = 0;
    r[20] = 0xFFFF; /* int32 -2 */
    r[21] = 0xFFFE;
    ck_assert(ss_i32(&blk, 20, 1, &v));
    NEAR(v, -2.0);
    r[20] = 0x8000;
    r[21] = 0;
    ck_assert(!ss_i32(&blk, 20, 1, &v));
    unsigned e;
    r[30] = 0xFFFF;
    ck_assert(!ss_enum16(&blk, 30, &e));
    r[30] = 1;
    ck_assert(ss_enum16(&blk, 30, &e) && e == 1);
}
END_TEST

START_TEST(test_encode)
{
    int64_t raw;
    ck_assert(ss_encode(2500.0, 1, -32767, 32767, &raw) && raw == 250);
    ck_assert(ss_encode(-12.34, -2, -32767, 32767, &raw) && raw == -1234);
    ck_assert(!ss_encode(400000.0, 0, -32767, 32767, &raw));
    ck_assert(!ss_encode(NAN, 0, -32767, 32767, &raw));
}
END_TEST

/* A legacy battery: 103 W = -300 x 10^1 W, 124 WChaMax = 500 x 10^1 W, ChaState 655 x 10^-1 %,
 * MinRsvPct 10 %, 120 WHRtg 2000 x 10^1 Wh. */
static void legacy(uint16_t *inv, uint16_t *m124, uint16_t *m120)
{
    memset(inv, 0, 52 * 2);
    memset(m124, 0, SS124_LEN * 2);
    memset(m120, 0, 28 * 2);
    inv[0] = 103;
    inv[SS10X_W] = (uint16_t)-300;
    inv[SS10X_W_SF] = 1;
    m124[0] = 124;
    m124[SS124_WCHAMAX] = 500;
    m124[SS124_WCHAMAX_SF] = 1;
    m124[SS124_CHASTATE] = 655;
    m124[SS124_CHASTATE_SF] = (uint16_t)-1;
    m124[SS124_MINRSVPCT] = 10;
    m124[SS124_MINRSVPCT_SF] = 0;
    m124[SS124_INOUTWRTE_SF] = (uint16_t)-1;
    m124[SS124_RVRTTMS] = 0xFFFF;
    m120[0] = 120;
    m120[SS120_WHRTG] = 2000;
    m120[SS120_WHRTG_SF] = 1;
}

START_TEST(test_legacy)
{
    uint16_t inv[52], m124[SS124_LEN], m120[28];
    legacy(inv, m124, m120);
    ss_block_t bi = {inv, 52}, b124 = {m124, SS124_LEN}, b120 = {m120, 28};
    ss_battery_t st;
    char err[200];
    ck_assert_int_eq(ss_decode_legacy(&bi, &b124, &b120, 0, &st, err, sizeof err), 0);
    NEAR(st.power_kw, -3.0);
    NEAR(st.capacity_kwh, 20.0);
    NEAR(st.soc_kwh, 13.1);
    NEAR(st.soc_min_kwh, 2.0);
    NEAR(st.soc_max_kwh, 20.0);
    NEAR(st.charge_max_kw, 5.0);
    NEAR(st.discharge_max_kw, 5.0);
    ck_assert_uint_eq(st.revert_s, 0); /* 0xFFFF: not implemented */
    /* the operator's capacity wins; without 120 it is required */
    ck_assert_int_eq(ss_decode_legacy(&bi, &b124, NULL, 50, &st, err, sizeof err), 0);
    NEAR(st.soc_kwh, 32.75);
    ck_assert_int_eq(ss_decode_legacy(&bi, &b124, NULL, 0, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "WHRtg") != NULL, "%s", err);
    /* MinRsvPct not implemented: no reserve */
    m124[SS124_MINRSVPCT] = 0xFFFF;
    ck_assert_int_eq(ss_decode_legacy(&bi, &b124, &b120, 0, &st, err, sizeof err), 0);
    NEAR(st.soc_min_kwh, 0.0);
    /* W not implemented: the reading is refused, never taken as a number */
    inv[SS10X_W] = 0x8000;
    ck_assert_int_eq(ss_decode_legacy(&bi, &b124, &b120, 0, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "W") != NULL, "%s", err);
    inv[SS10X_W] = 10;
    m124[SS124_CHASTATE_SF] = 0x8000;
    ck_assert_int_eq(ss_decode_legacy(&bi, &b124, &b120, 0, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "ChaState") != NULL, "%s", err);
}
END_TEST

typedef struct der_s {
    uint16_t m701[SS701_READ_LEN], m702[SS702_READ_LEN], m704[SS704_READ_LEN], m713[SS713_READ_LEN],
        m802[SS802_READ_LEN];
} der_t;

static void der(der_t *d)
{
    memset(d, 0, sizeof *d);
    d->m701[SS701_W] = 1234; /* x 10^1 W: discharging 12.34 kW */
    d->m701[SS701_W_SF] = 1;
    d->m702[SS702_W_SF] = 2;
    d->m702[SS702_WMAXRTG] = 500; /* 50 kW */
    d->m702[SS702_WMAX] = 400;    /* 40 kW */
    d->m702[SS702_WCHARTEMAX] = 0xFFFF;
    d->m702[SS702_WCHARTEMAXRTG] = 300; /* 30 kW: used, the setting is absent */
    d->m702[SS702_WDISCHARTEMAX] = 350;
    d->m704[SS704_WMAXLIMPCTENA] = 0;
    d->m704[SS704_WMAXLIMPCT] = 50; /* 50 % x 10^0 */
    d->m704[SS704_WMAXLIMPCT_SF] = 0;
    d->m704[SS704_WSET_SF] = 0;
    d->m704[SS704_WSETRVRTTMS] = 0;
    d->m704[SS704_WSETRVRTTMS + 1] = 90;
    d->m713[SS713_WHRTG] = 1000; /* x 10^2 Wh: 100 kWh */
    d->m713[SS713_WH_SF] = 2;
    d->m713[SS713_WHAVAIL] = 0xFFFF;
    d->m713[SS713_SOC] = 4250; /* x 10^-2 %: 42.5 % */
    d->m713[SS713_PCT_SF] = (uint16_t)-2;
}

START_TEST(test_der)
{
    der_t d;
    der(&d);
    ss_block_t b701 = {d.m701, SS701_READ_LEN}, b702 = {d.m702, SS702_READ_LEN},
               b704 = {d.m704, SS704_READ_LEN}, b713 = {d.m713, SS713_READ_LEN},
               b802 = {d.m802, SS802_READ_LEN};
    ss_battery_t st;
    char err[200];
    ck_assert_int_eq(ss_decode_der(&b701, &b702, &b704, &b713, NULL, &st, err, sizeof err), 0);
    NEAR(st.power_kw, 12.34);
    NEAR(st.capacity_kwh, 100.0);
    NEAR(st.soc_kwh, 42.5);
    NEAR(st.soc_min_kwh, 0.0);
    NEAR(st.soc_max_kwh, 100.0);
    NEAR(st.charge_max_kw, 30.0);
    NEAR(st.discharge_max_kw, 35.0);
    ck_assert_uint_eq(st.revert_s, 90);
    /* WMaxLimPct enabled: 50 % of WMax (40 kW) = 20 kW caps the discharge */
    d.m704[SS704_WMAXLIMPCTENA] = 1;
    ck_assert_int_eq(ss_decode_der(&b701, &b702, &b704, &b713, NULL, &st, err, sizeof err), 0);
    NEAR(st.discharge_max_kw, 20.0);
    /* 802: the battery's own lower charge limit and its state-of-charge window */
    d.m802[SS802_WCHADISCHAMAX_SF] = 3;
    d.m802[SS802_WCHARTEMAX] = 25; /* 25 kW */
    d.m802[SS802_WDISCHARTEMAX] = 0xFFFF;
    d.m802[SS802_SOC_SF] = 0;
    d.m802[SS802_SOCMIN] = 10;
    d.m802[SS802_SOCMAX] = 95;
    ck_assert_int_eq(ss_decode_der(&b701, &b702, &b704, &b713, &b802, &st, err, sizeof err), 0);
    NEAR(st.charge_max_kw, 25.0);
    NEAR(st.discharge_max_kw, 20.0);
    NEAR(st.soc_min_kwh, 10.0);
    NEAR(st.soc_max_kwh, 95.0);
    /* the SoC not implemented: refused */
    d.m713[SS713_SOC] = 0xFFFF;
    ck_assert_int_eq(ss_decode_der(&b701, &b702, &b704, &b713, &b802, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "713 SoC") != NULL, "%s", err);
    d.m713[SS713_SOC] = 10;
    /* no charge limit anywhere */
    d.m702[SS702_WCHARTEMAXRTG] = 0xFFFF;
    ck_assert_int_eq(ss_decode_der(&b701, &b702, &b704, &b713, NULL, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "charge limit") != NULL, "%s", err);
}
END_TEST

START_TEST(test_meter)
{
    uint16_t m[SS20X_READ_LEN];
    memset(m, 0, sizeof m);
    m[0] = 203;
    m[SS20X_W] = (uint16_t)-4567; /* x 10^-1 W: exporting 0.4567 kW */
    m[SS20X_W_SF] = (uint16_t)-1;
    m[SS20X_TOTWHIMP] = 0x0012; /* 0x00123456 = 1193046 x 10^1 Wh */
    m[SS20X_TOTWHIMP + 1] = 0x3456;
    m[SS20X_TOTWH_SF] = 1;
    ss_block_t b = {m, SS20X_READ_LEN};
    ss_meter_t out;
    char err[200];
    ck_assert_int_eq(ss_decode_meter(&b, &out, err, sizeof err), 0);
    NEAR(out.power_kw, -0.4567);
    ck_assert(out.has == SS_HAS_IMPORT); /* TotWhExp reads 0: not implemented */
    NEAR(out.import_kwh, 11930.46);
    m[SS20X_W_SF] = 0x8000;
    ck_assert_int_eq(ss_decode_meter(&b, &out, err, sizeof err), -1);
}
END_TEST

START_TEST(test_encode_124)
{
    uint16_t inv[52], m124[SS124_LEN], m120[28];
    legacy(inv, m124, m120);
    m124[SS124_RVRTTMS - 1] = 7; /* InOutWRte_WinTms: kept as read */
    ss_block_t b = {m124, SS124_LEN};
    ss_write_t w[2];
    char err[200];
    /* discharge 2.5 kW of WChaMax 5 kW: 50 %, x 10^-1 -> 500; InWRte -500 */
    ck_assert_int_eq(ss_encode_124(2.5, 60, &b, w, err, sizeof err), 0);
    ck_assert_uint_eq(w[0].off, SS124_OUTWRTE);
    ck_assert_uint_eq(w[0].n, 4);
    ck_assert_int_eq((int16_t)w[0].v[0], 500);
    ck_assert_int_eq((int16_t)w[0].v[1], -500);
    ck_assert_uint_eq(w[0].v[2], 7);
    ck_assert_uint_eq(w[0].v[3], 60);
    ck_assert_uint_eq(w[1].off, SS124_STORCTL_MOD);
    ck_assert_uint_eq(w[1].v[0], 3);
    /* charge 1 kW: -20 % */
    ck_assert_int_eq(ss_encode_124(-1.0, 60, &b, w, err, sizeof err), 0);
    ck_assert_int_eq((int16_t)w[0].v[0], -200);
    ck_assert_int_eq((int16_t)w[0].v[1], 200);
    /* hold */
    ck_assert_int_eq(ss_encode_124(0.0, 60, &b, w, err, sizeof err), 0);
    ck_assert_int_eq((int16_t)w[0].v[0], 0);
    ck_assert_int_eq((int16_t)w[0].v[1], 0);
    /* beyond WChaMax: 100 % at most */
    ck_assert_int_eq(ss_encode_124(9.0, 60, &b, w, err, sizeof err), 0);
    ck_assert_int_eq((int16_t)w[0].v[0], 1000);
    /* read back: equal, then one register off */
    uint16_t back[SS124_LEN];
    memcpy(back, m124, sizeof back);
    memcpy(back + w[0].off, w[0].v, w[0].n * 2);
    ss_block_t bb = {back, SS124_LEN};
    ck_assert(ss_verify(&w[0], &bb));
    ck_assert(!ss_verify(&w[1], &bb)); /* StorCtl_Mod still 0 */
    back[SS124_STORCTL_MOD] = 3;
    ck_assert(ss_verify(&w[1], &bb));
    back[SS124_INWRTE] ^= 1;
    ck_assert(!ss_verify(&w[0], &bb));
    /* no scale factor for the rates: nothing can be written */
    m124[SS124_INOUTWRTE_SF] = 0x8000;
    ck_assert_int_eq(ss_encode_124(1.0, 60, &b, w, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "InOutWRte_SF") != NULL, "%s", err);
}
END_TEST

START_TEST(test_encode_704)
{
    der_t d;
    der(&d);
    d.m704[SS704_WSET_SF] = 1;
    ss_block_t b = {d.m704, SS704_READ_LEN};
    ss_write_t w[2];
    char err[200];
    /* charge 1234.5 kW: WSet = -1234500 W / 10 = -123450 = 0xFFFE1DC6 */
    ck_assert_int_eq(ss_encode_704(-1234.5, 120, &b, w, err, sizeof err), 0);
    ck_assert_uint_eq(w[0].off, SS704_WSETENA);
    ck_assert_uint_eq(w[0].v[0], 1);
    ck_assert_uint_eq(w[0].v[1], SS704_WSETMOD_WATTS);
    ck_assert_uint_eq(w[0].v[2], 0xFFFE);
    ck_assert_uint_eq(w[0].v[3], 0x1DC6);
    ck_assert_uint_eq(w[0].v[4], 0); /* WSetRvrt: revert to 0 W */
    ck_assert_uint_eq(w[0].v[5], 0);
    ck_assert_uint_eq(w[1].off, SS704_WSETENARVRT);
    ck_assert_uint_eq(w[1].v[0], 1);
    ck_assert_uint_eq(w[1].v[1], 0);
    ck_assert_uint_eq(w[1].v[2], 120);
    d.m704[SS704_WSET_SF] = 0x8000;
    ck_assert_int_eq(ss_encode_704(1.0, 120, &b, w, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "WSet_SF") != NULL, "%s", err);
}
END_TEST

START_TEST(test_clamp_and_chain)
{
    ss_battery_t b = {.charge_max_kw = 5, .discharge_max_kw = 7};
    NEAR(ss_clamp_power(&b, 9), 7.0);
    NEAR(ss_clamp_power(&b, -9), -5.0);
    NEAR(ss_clamp_power(&b, 1.5), 1.5);
    ss_chain_t c = {.base = 40000, .n = 3};
    c.m[0].id = 1;
    c.m[1].id = 103;
    c.m[2].id = 124;
    char buf[64];
    ss_chain_describe(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, "1 103 124");
    ck_assert_ptr_nonnull(ss_chain_find(&c, 124));
    ck_assert_ptr_null(ss_chain_find(&c, 713));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sunspec_decode");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_scale_factors);
    tcase_add_test(tc, test_points_and_sentinels);
    tcase_add_test(tc, test_encode);
    tcase_add_test(tc, test_legacy);
    tcase_add_test(tc, test_der);
    tcase_add_test(tc, test_meter);
    tcase_add_test(tc, test_encode_124);
    tcase_add_test(tc, test_encode_704);
    tcase_add_test(tc, test_clamp_and_chain);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
