/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Benchmarks: the import price of the benchmark sites, synthetic (a daily wave and a faster one)
 * or, with `--prices CSV`, a real series read from a CSV whose last column is a price per kWh,
 * such as the JEPX Kansai excerpt in examples/data/. Lines whose last field is not a number (the
 * header) are skipped. Thread: the benchmark's one thread.
 */
#ifndef GRIDEMS_BENCH_PRICE_CSV_H
#define GRIDEMS_BENCH_PRICE_CSV_H

/* Added to every price, as the demo's `--price-adder 4`: JEPX spot prices leave out the network
 * and other charges a site pays per kWh. */
#define BENCH_PRICE_ADDER 4.0

typedef struct bench_prices_s {
    double *per_kwh; /* one per 30-min slot of the file, in its order */
    int count;
} bench_prices_t;

/* Read path into p (p->count 0 on return when the file has no price). Returns 0, or -1 with the
 * reason on stderr when the file cannot be read. A zeroed bench_prices_t stands for the
 * synthetic prices. */
int bench_prices_load(bench_prices_t *p, const char *path);

/* The import price of step `index` of a grid of step_minutes steps from the start: with a
 * series, the 30-min slot it falls in, the series wrapping round, plus BENCH_PRICE_ADDER;
 * without one (p->count 0), the synthetic price at that hour. */
double bench_prices_at(const bench_prices_t *p, int index, int step_minutes);

void bench_prices_free(bench_prices_t *p);

#endif
