/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Benchmarks: every process of a run on one CPU. On these 2-vCPU machines one CPU can run slower
 * than the other for minutes (a busy neighbour on its core): unpinned, the growth benchmark's
 * canonical ratio to HiGHS ranged 0.74-1.36 between runs of the same binary, one side having
 * landed on the slow CPU; pinned together, 0.93-0.99 in 17 runs. Children (the HiGHS helper,
 * glpsol) inherit the mask. The including file defines _GNU_SOURCE before any include
 * (sched_getcpu, CPU_SET).
 */
#ifndef GRIDEMS_BENCH_PIN_CPU_H
#define GRIDEMS_BENCH_PIN_CPU_H

#include <sched.h>

/* Pin this process to the CPU it runs on. Returns the CPU, or -1 when pinning is not possible
 * (then it stays unpinned). */
static inline int bench_pin_to_one_cpu(void)
{
    int cpu = sched_getcpu();
    if (cpu < 0) {
        return -1;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? cpu : -1;
}

#endif
