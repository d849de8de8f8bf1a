/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "price_csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_prices_load(bench_prices_t *p, const char *path)
{
    memset(p, 0, sizeof *p);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    char line[512];
    int cap = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *comma = strrchr(line, ',');
        char *end = NULL;
        double v = comma != NULL ? strtod(comma + 1, &end) : NAN;
        if (comma == NULL || end == comma + 1 || !isfinite(v)) {
            continue; /* the header */
        }
        if (p->count == cap) {
            cap = cap ? cap * 2 : 512;
            double *bigger = realloc(p->per_kwh, (size_t)cap * sizeof *bigger);
            if (bigger == NULL) {
                fprintf(stderr, "%s: out of memory\n", path);
                fclose(f);
                bench_prices_free(p);
                return -1;
            }
            p->per_kwh = bigger;
        }
        p->per_kwh[p->count++] = v;
    }
    fclose(f);
    return 0;
}

double bench_prices_at(const bench_prices_t *p, int index, int step_minutes)
{
    if (p->count == 0) {
        double hours = index * step_minutes / 60.0;
        return 12 + 7 * sin(2 * M_PI * (hours - 9) / 24) + 2 * sin(2 * M_PI * hours / 5.3);
    }
    int slot = (int)((long)index * step_minutes / 30 % p->count);
    return p->per_kwh[slot] + BENCH_PRICE_ADDER;
}

void bench_prices_free(bench_prices_t *p)
{
    free(p->per_kwh);
    memset(p, 0, sizeof *p);
}
