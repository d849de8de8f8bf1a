/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The fuzz targets (tests/fuzz/README.md): one per parser of outside input. Each file defines
 * LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize). Built two ways:
 *   - with clang and -fsanitize=fuzzer,address,undefined (tests/fuzz/run-fuzz.sh): libFuzzer
 *     explores for a bounded time from the seed corpus;
 *   - with the normal build, linked with replay_main.c: a ctest that runs every seed and every
 *     regression input (a crash once found) through the same function, so none comes back.
 * A target must not leak, must not write files, and must treat every input as possible.
 */
#ifndef GRIDEMS_FUZZ_H
#define GRIDEMS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
