/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SunSpec register images for the tests; see sunspec_image.h. */
#include "sunspec_image.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static void put(img_t *im, uint16_t v)
{
    ck_assert_msg(im->n < IMG_MAX, "image too large");
    im->r[im->n++] = v;
}

void img_begin(img_t *im, uint32_t base, const char *model_name)
{
    memset(im, 0, sizeof *im);
    im->base = base;
    put(im, 0x5375);
    put(im, 0x6E53);
    unsigned m = img_model(im, 1, 66);
    const char *mn = "gridems-test";
    for (unsigned i = 0; i < 32 && mn[i] != '\0'; i += 2) {
        img_set(im, m, 2 + i / 2, (uint16_t)((mn[i] << 8) | (mn[i + 1] & 0xFF)));
    }
    for (unsigned i = 0; i < 32 && model_name[i] != '\0'; i += 2) {
        uint16_t lo = model_name[i + 1] != '\0' ? (uint16_t)model_name[i + 1] : 0;
        img_set(im, m, 18 + i / 2, (uint16_t)((model_name[i] << 8) | lo));
        if (model_name[i + 1] == '\0') {
            break;
        }
    }
    img_set(im, m, 50, ('S' << 8) | 'N');
    img_set(im, m, 51, ('1' << 8) | '7');
}

unsigned img_model(img_t *im, uint16_t id, uint16_t len)
{
    unsigned at = im->n;
    put(im, id);
    put(im, len);
    for (unsigned i = 0; i < len; i++) {
        put(im, 0);
    }
    return at;
}

void img_set(img_t *im, unsigned m, unsigned off, uint16_t v)
{
    ck_assert_msg(m + off < im->n, "register %u+%u outside the image", m, off);
    im->r[m + off] = v;
}

void img_set32(img_t *im, unsigned m, unsigned off, uint32_t v)
{
    img_set(im, m, off, (uint16_t)(v >> 16));
    img_set(im, m, off + 1, (uint16_t)(v & 0xFFFF));
}

void img_end(img_t *im)
{
    put(im, 0xFFFF);
    put(im, 0);
}

int img_write(const img_t *im, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < im->n; i++) {
        fprintf(f, "%u %u\n", (unsigned)(im->base + i), (unsigned)im->r[i]);
    }
    return fclose(f) == 0 ? 0 : -1;
}
