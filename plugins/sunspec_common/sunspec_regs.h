/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The SunSpec register offsets the drivers use, compiled in so that the plugins need no model
 * files at run time. Every offset counts from a model's first register (its ID; L follows at 1,
 * the first point at 2), as the SunSpec information models lay them out (the published JSON
 * model definitions, pysunspec2 1.3.5 `sunspec2/models/json/model_<id>.json`; a point's offset
 * is the sum of the sizes of the points before it). Only the points read or written are listed.
 *
 * Types: u16/i16 one register; acc32/u32/i32 two registers, high word first; sf a sunssf
 * (int16 power-of-ten exponent). Header only: constants, no code.
 */
#ifndef GRIDEMS_SUNSPEC_REGS_H
#define GRIDEMS_SUNSPEC_REGS_H

/* "SunS" marker, at the base address (40000, 50000 or 0). */
#define SS_MARK_HI 0x5375u
#define SS_MARK_LO 0x6E53u
#define SS_END_ID 0xFFFFu

/* Every model: ID then L (the length in registers after L). */
#define SS_OFF_ID 0
#define SS_OFF_L 1

/* Model 1, common: Mn string[16] at 2, Md string[16] at 18, SN string[16] at 50. */
#define SS1_MN 2
#define SS1_MD 18
#define SS1_SN 50
#define SS1_STR_REGS 16

/* Models 101, 102, 103, inverter (integer + scale factor): W i16 (W_SF), W_SF. Same offsets in
 * all three. */
#define SS10X_W 14
#define SS10X_W_SF 15

/* Model 120, nameplate: WHRtg u16 (WHRtg_SF), MaxChaRte u16, MaxDisChaRte u16 (own SFs). */
#define SS120_WHRTG 19
#define SS120_WHRTG_SF 20
#define SS120_MAXCHARTE 23
#define SS120_MAXCHARTE_SF 24
#define SS120_MAXDISCHARTE 25
#define SS120_MAXDISCHARTE_SF 26

/* Model 124, basic storage controls. */
#define SS124_WCHAMAX 2     /* u16, W, WChaMax_SF, RW: setpoint for maximum charge */
#define SS124_STORCTL_MOD 5 /* bitfield16, RW: bit 0 CHARGE, bit 1 DISCHARGE (limits active) */
#define SS124_MINRSVPCT 7   /* u16, %, MinRsvPct_SF, RW: minimum reserve */
#define SS124_CHASTATE 8    /* u16, %, ChaState_SF: state of charge */
#define SS124_OUTWRTE 12    /* i16, % of WChaMax, InOutWRte_SF, RW: discharge rate */
#define SS124_INWRTE 13     /* i16, % of WChaMax, InOutWRte_SF, RW: charge rate */
#define SS124_RVRTTMS 15    /* u16, s, RW: InOutWRte_RvrtTms, timeout for the rates */
#define SS124_WCHAMAX_SF 18
#define SS124_MINRSVPCT_SF 21
#define SS124_CHASTATE_SF 22
#define SS124_INOUTWRTE_SF 25
#define SS124_LEN 26 /* ID + L + 24 */

/* Models 201..204, meters (integer + scale factor); identical offsets in all four. W is positive
 * for power imported through the meter (into the site). */
#define SS20X_W 18        /* i16, W_SF */
#define SS20X_W_SF 22     /* sunssf */
#define SS20X_TOTWHEXP 38 /* acc32, TotWh_SF */
#define SS20X_TOTWHIMP 46 /* acc32, TotWh_SF */
#define SS20X_TOTWH_SF 54 /* sunssf */
#define SS20X_READ_LEN 55 /* registers 0..54: everything above in one request */

/* Model 701, DER AC measurement: W i16 (W_SF) is positive when the DER injects (discharges). */
#define SS701_W 10
#define SS701_W_SF 116
#define SS701_READ_LEN 117

/* Model 702, DER capacity: ratings and settings, all with W_SF. */
#define SS702_WMAXRTG 2
#define SS702_WCHARTEMAXRTG 10
#define SS702_WDISCHARTEMAXRTG 11
#define SS702_WMAX 26
#define SS702_WCHARTEMAX 34
#define SS702_WDISCHARTEMAX 35
#define SS702_W_SF 45
#define SS702_READ_LEN 46

/* Model 704, DER AC controls. */
#define SS704_WMAXLIMPCTENA 14 /* enum16 RW: 0 disabled, 1 enabled */
#define SS704_WMAXLIMPCT 15    /* u16 RW, % of WMax, WMaxLimPct_SF */
#define SS704_WSETENA 22       /* enum16 RW */
#define SS704_WSETMOD 23       /* enum16 RW: 0 % of WMax, 1 watts */
#define SS704_WSET 24          /* i32 RW, W, WSet_SF; positive = inject (discharge) */
#define SS704_WSETRVRT 26      /* i32 RW, the value after the reversion timeout */
#define SS704_WSETENARVRT 30   /* enum16 RW: the enable after the reversion timeout */
#define SS704_WSETRVRTTMS 31   /* u32 RW, s: reversion timeout, 0 = none */
#define SS704_WMAXLIMPCT_SF 54
#define SS704_WSET_SF 55
#define SS704_READ_LEN 59 /* the fixed points; the repeating PF groups follow and are not used */
#define SS704_WSETMOD_WATTS 1

/* Model 713, DER storage capacity. */
#define SS713_WHRTG 2   /* u16, Wh, WH_SF */
#define SS713_WHAVAIL 3 /* u16, Wh, WH_SF */
#define SS713_SOC 4     /* u16, %, Pct_SF */
#define SS713_WH_SF 7
#define SS713_PCT_SF 8
#define SS713_READ_LEN 9

/* Model 802, battery base. */
#define SS802_WCHARTEMAX 4    /* u16, W, WChaDisChaMax_SF */
#define SS802_WDISCHARTEMAX 5 /* u16, W, WChaDisChaMax_SF */
#define SS802_SOCMAX 7        /* u16, %, SoC_SF */
#define SS802_SOCMIN 8        /* u16, %, SoC_SF */
#define SS802_WCHADISCHAMAX_SF 54
#define SS802_SOC_SF 56
#define SS802_READ_LEN 64

#endif
