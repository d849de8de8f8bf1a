/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support: SunSpec register images for the test servers (sunspec_server.c, and
 * pymodbus_server.py), written as "ADDRESS VALUE" lines. The images are built register by
 * register from the model layouts (offsets from plugins/sunspec_common/sunspec_regs.h, which
 * cite the SunSpec models), so a test states exactly what the device holds. Test code, one
 * thread.
 */
#ifndef GRIDEMS_TEST_SUNSPEC_IMAGE_H
#define GRIDEMS_TEST_SUNSPEC_IMAGE_H

#include <stdint.h>

enum { IMG_MAX = 2048 };

typedef struct img_s {
    uint32_t base;
    unsigned n;          /* registers used from base */
    uint16_t r[IMG_MAX]; /* r[i] is the register at base + i */
} img_t;

/* Start an image at base: "SunS", then model 1 (common) with the given model name. */
void img_begin(img_t *im, uint32_t base, const char *model_name);

/* Append a model of `len` registers after L, every point "not implemented"-free zero; returns
 * the index in r of its ID register, for img_set. */
unsigned img_model(img_t *im, uint16_t id, uint16_t len);

/* Set a register of the model at m (offset from its ID register); img_set32 high word first. */
void img_set(img_t *im, unsigned m, unsigned off, uint16_t v);
void img_set32(img_t *im, unsigned m, unsigned off, uint32_t v);

/* Close the chain (0xFFFF, 0). */
void img_end(img_t *im);

/* Write the image file. 0 or -1. */
int img_write(const img_t *im, const char *path);

#endif
