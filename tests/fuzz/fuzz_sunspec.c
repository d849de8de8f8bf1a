/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: the SunSpec decoder (plugins/sunspec_common/sunspec_decode.c), which turns the
 * register images a Modbus device sends into readings and builds the set-point writes from them.
 * The first byte picks the family (meter, legacy battery, DER battery), the next ones cut the
 * rest (16-bit registers, high byte first) into the models' images; the set-point encoders and
 * the read-back check run on what was decoded.
 */
#include "fuzz.h"
#include "sunspec_decode.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_REGS = 4096 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6) {
        return 0;
    }
    uint8_t pick = data[0];
    uint8_t cut[4] = {data[1], data[2], data[3], data[4]};
    size_t n = (size - 5) / 2;
    n = n > MAX_REGS ? MAX_REGS : n;
    uint16_t *r = malloc((n > 0 ? n : 1) * sizeof *r);
    if (r == NULL) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        r[i] = (uint16_t)(data[5 + 2 * i] << 8 | data[6 + 2 * i]);
    }
    /* Cut the registers into up to five consecutive blocks. */
    ss_block_t b[5];
    size_t at = 0;
    for (int k = 0; k < 5; k++) {
        size_t left = n - at;
        size_t len = k < 4 ? (left > 0 ? cut[k] % (left + 1) : 0) : left;
        b[k].r = r + at;
        b[k].n = len;
        at += len;
    }
    char err[256];
    ss_write_t w[2];
    double power = (double)(int8_t)pick * 10.0;
    switch (pick % 3) {
    case 0: {
        ss_meter_t m;
        (void)ss_decode_meter(&b[0], &m, err, sizeof err);
        break;
    }
    case 1: {
        ss_battery_t bat;
        if (ss_decode_legacy(&b[0], &b[1], b[2].n > 0 ? &b[2] : NULL, 0, &bat, err, sizeof err) ==
            0) {
            power = ss_clamp_power(&bat, power);
        }
        if (ss_encode_124(power, 60, &b[1], w, err, sizeof err) == 0) {
            (void)ss_verify(&w[0], &b[1]);
            (void)ss_verify(&w[1], &b[1]);
        }
        break;
    }
    default: {
        ss_battery_t bat;
        if (ss_decode_der(&b[0], &b[1], &b[2], &b[3], b[4].n > 0 ? &b[4] : NULL, &bat, err,
                          sizeof err) == 0) {
            power = ss_clamp_power(&bat, power);
        }
        if (ss_encode_704(power, 60, &b[2], w, err, sizeof err) == 0) {
            (void)ss_verify(&w[0], &b[2]);
            (void)ss_verify(&w[1], &b[2]);
        }
        break;
    }
    }
    free(r);
    return 0;
}
