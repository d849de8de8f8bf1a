/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The shortest decimal text that reads back (strtod, round to nearest even) as the same double.
 *
 * Digits come from the free-format algorithm of Steele & White and Burger & Dybvig ("Printing
 * floating-point numbers quickly and accurately", PLDI 1996), done in exact integer arithmetic
 * (shortest_double.c): among the decimal strings that round to the double, one with the fewest
 * significant digits, and of those the one closest to it. The layout is ECMAScript's
 * Number.prototype.toString (ECMA-262, Number::toString): plain digits for 1e-7 <= |v| < 1e21,
 * else d.ddde+XX. Integers below 2^53 take a fast path with the same result.
 *
 * Threads: pure functions, no state.
 */
#ifndef GRIDEMS_SHORTEST_DOUBLE_H
#define GRIDEMS_SHORTEST_DOUBLE_H

#include <stddef.h>

/* The longest text gridems__shortest_double writes, with its NUL: sign, 17 digits, point,
 * "e-324" and slack for the "0.000000" of the smallest plain numbers. */
#define GRIDEMS_SHORTEST_DOUBLE_MAX 32

/*
 * Write the shortest round-trip text of a finite v into buf (at least
 * GRIDEMS_SHORTEST_DOUBLE_MAX bytes) and return its length. -0 is written "-0" (callers that
 * want "0" test for zero first). Non-finite v writes "null" (JSON has no such number).
 */
int gridems__shortest_double(char *buf, double v);

#endif
