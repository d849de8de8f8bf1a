/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Pure SunSpec decoding and encoding: register images in, engineering values out (and the
 * reverse for the controls). No I/O, no clock, no global state: any thread may call any
 * function, and the unit tests call them directly (tests/unit/test_sunspec_decode.c).
 *
 * Rules applied everywhere (the SunSpec information models):
 *   - a scaled value is raw x 10^SF, SF taken from the same image (the caller reads a model in
 *     one request, so a value and its scale factor come from the same instant);
 *   - "not implemented" (0x8000 int16 and sunssf, 0xFFFF uint16/enum16, 0x80000000 int32,
 *     0xFFFFFFFF uint32, 0 acc32) and a scale factor outside -10..10 make the value absent,
 *     never a number;
 *   - 32-bit values are high word first.
 *
 * Not a plugin: battery_sunspec and meter_sunspec compile this file into their shared objects,
 * where -fvisibility=hidden keeps the symbols private.
 */
#ifndef GRIDEMS_SUNSPEC_DECODE_H
#define GRIDEMS_SUNSPEC_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* One model's registers as read, from its ID register on. r is borrowed. */
typedef struct ss_block_s {
    const uint16_t *r;
    size_t n;
} ss_block_t;

/* ---- ## Errors ---- */

/* Format a reason into err (errlen bytes, truncated to fit) and return -1: the error path of
 * every function here and in sunspec_link.c that reports through an err buffer. */
int ss_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- ## Points ---- */

/* A scale factor at off: 1 and *sf set when implemented and within -10..10, else 0. */
int ss_sf(const ss_block_t *b, unsigned off, int *sf);

/* A scaled point (value at off, its sunssf at sf_off): 1 and *out set when both are present,
 * 0 when either is "not implemented" or outside the image. */
int ss_u16(const ss_block_t *b, unsigned off, unsigned sf_off, double *out);
int ss_i16(const ss_block_t *b, unsigned off, unsigned sf_off, double *out);
int ss_acc32(const ss_block_t *b, unsigned off, unsigned sf_off, double *out);
int ss_i32(const ss_block_t *b, unsigned off, unsigned sf_off, double *out);

/* An unscaled enum16/bitfield16 point: 1 and *out set when implemented, else 0. */
int ss_enum16(const ss_block_t *b, unsigned off, unsigned *out);

/* raw = round(value / 10^sf) when it fits in [lo, hi]: 1 and *raw set, else 0. */
int ss_encode(double value, int sf, int64_t lo, int64_t hi, int64_t *raw);

/* ---- ## The model chain ---- */

enum { SS_CHAIN_MAX = 64 };

typedef struct ss_model_ref_s {
    uint16_t id;
    uint16_t len;  /* L: registers after L */
    uint32_t addr; /* Modbus address of the ID register */
} ss_model_ref_t;

typedef struct ss_chain_s {
    uint32_t base; /* address of "SunS" */
    unsigned n;
    ss_model_ref_t m[SS_CHAIN_MAX];
} ss_chain_t;

/* The first model with this id, or NULL. */
const ss_model_ref_t *ss_chain_find(const ss_chain_t *c, uint16_t id);

/* "101 103 124 ..." into buf (always NUL-terminated). */
void ss_chain_describe(const ss_chain_t *c, char *buf, size_t len);

/* ---- ## Devices ---- */

/* A battery as gridems sees it: kW and kWh, power positive = discharging. */
typedef struct ss_battery_s {
    double power_kw;
    double capacity_kwh;
    double soc_kwh;
    double soc_min_kwh;
    double soc_max_kwh;
    double charge_max_kw;
    double discharge_max_kw;
    uint32_t revert_s; /* the device's reversion timeout as read back, 0 = none or unknown */
} ss_battery_t;

/*
 * The legacy family: an inverter model (101, 102 or 103) for the AC power, 124 for the state of
 * charge, reserve and rate limit, and 120 (nameplate, optional: NULL) for the capacity.
 * capacity_kwh > 0 overrides 120's WHRtg (a device without 120 needs it).
 * Returns 0, or -1 with the point that is missing or out of range in err.
 */
int ss_decode_legacy(const ss_block_t *inv, const ss_block_t *m124, const ss_block_t *m120,
                     double capacity_kwh, ss_battery_t *out, char *err, size_t errlen);

/*
 * The DER family: 701 (AC power), 702 (rate limits), 704 (WMaxLimPct, which lowers the
 * discharge limit while enabled; the reversion time), 713 (capacity and state of charge), and
 * 802 (battery base, optional: NULL) for the state-of-charge window and the battery's own rate
 * limits. Returns 0, or -1 with the missing point in err.
 */
int ss_decode_der(const ss_block_t *m701, const ss_block_t *m702, const ss_block_t *m704,
                  const ss_block_t *m713, const ss_block_t *m802, ss_battery_t *out, char *err,
                  size_t errlen);

/* A meter (201..204). The `has` bits tell which values are present (W is required). */
enum { SS_HAS_IMPORT = 1, SS_HAS_EXPORT = 2 };
typedef struct ss_meter_s {
    double power_kw; /* positive = import through the meter */
    double import_kwh;
    double export_kwh;
    unsigned has;
} ss_meter_t;

int ss_decode_meter(const ss_block_t *m, ss_meter_t *out, char *err, size_t errlen);

/* ---- ## Controls ---- */

/* A block write, offsets relative to the model's ID register. */
enum { SS_WRITE_MAX = 8 };
typedef struct ss_write_s {
    unsigned off;
    unsigned n;
    uint16_t v[SS_WRITE_MAX];
} ss_write_t;

/* power_kw clamped to [-charge_max_kw, discharge_max_kw]. */
double ss_clamp_power(const ss_battery_t *b, double power_kw);

/*
 * 124: the charge/discharge window collapsed onto the set-point. StorCtl_Mod = 3 (both limits
 * active); OutWRte = p, InWRte = -p, with p = power / WChaMax in percent (positive discharges):
 * the device may then neither discharge more than p nor charge more than -p, so it runs at p.
 * 0 holds. InOutWRte_RvrtTms = revert_s. m124 is the current image (for the scale factors and
 * WChaMax). Fills w[0..1] (rates, then mode). Returns 0, or -1 with the reason in err.
 */
int ss_encode_124(double power_kw, uint32_t revert_s, const ss_block_t *m124, ss_write_t w[2],
                  char *err, size_t errlen);

/*
 * 704: WSetEna = 1, WSetMod = watts, WSet = power (positive injects: discharges), WSetRvrt = 0
 * with WSetEnaRvrt = 1 and WSetRvrtTms = revert_s, so that the device itself holds at zero
 * when it hears nothing for revert_s. Fills w[0..1]. Returns 0, or -1 with the reason in err.
 */
int ss_encode_704(double power_kw, uint32_t revert_s, const ss_block_t *m704, ss_write_t w[2],
                  char *err, size_t errlen);

/* 1 when every register of w reads back equal in b, else 0. */
int ss_verify(const ss_write_t *w, const ss_block_t *b);

#endif
