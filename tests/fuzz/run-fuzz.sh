#!/usr/bin/env bash
# Bounded fuzzing of every parser of outside input (tests/fuzz/README.md), as CI runs it.
# Usage: tests/fuzz/run-fuzz.sh [SECONDS_PER_TARGET]     (default 60; env GRIDEMS_FUZZ_SECONDS)
# Builds build-fuzz/ with clang, -fsanitize=fuzzer,address,undefined (warnings are errors here
# too: clang's set differs from gcc's), then runs each target for the given time from its seed corpus (copied, so the repository stays as it is), two at a time.
# Exit 0 when no target found anything; 1 when one did (the input is in
# build-fuzz/fuzz-artifacts/<target>/: fix the bug, then add the input to
# tests/fuzz/regressions/<target>/); 77 when clang is missing (skipped, with a message).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
seconds=${1:-${GRIDEMS_FUZZ_SECONDS:-60}}
if ! command -v clang >/dev/null 2>&1; then
    echo "run-fuzz: clang not found: fuzzing skipped (apt-get install clang)" >&2
    exit 77
fi
build=build-fuzz
t0=$(date +%s)
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
    -DGRIDEMS_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
    -DGRIDEMS_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target gridems_fuzz_targets >/dev/null
t1=$(date +%s)
echo "run-fuzz: built the targets in $((t1 - t0)) s; fuzzing each for $seconds s" >&2

targets=(scenario config forecast dr_event command state history telemetry openadr sunspec)
work="$build/fuzz-work"
artifacts="$build/fuzz-artifacts"
rm -rf "$work"
mkdir -p "$work" "$artifacts"
run_one() {
    local t=$1 seconds=$2 build=$3 work=$4 artifacts=$5
    mkdir -p "$work/$t" "$artifacts/$t"
    cp tests/fuzz/corpus/"$t"/* "$work/$t/"
    # -timeout: one input taking 10 s is a finding; -rss_limit_mb: a 2 GB input is one too.
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1 \
        "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/$t/" \
        "$work/$t" >"$work/$t.log" 2>&1
}
export -f run_one
status=0
printf '%s\n' "${targets[@]}" |
    xargs -P 2 -I{} bash -c 'run_one "$@" || echo "{}" >>"$4/failed"' _ {} "$seconds" "$build" \
        "$work" "$artifacts" || true
total=0
for t in "${targets[@]}"; do
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1 || true)
    cov=$( (grep -o 'cov: [0-9]*' "$work/$t.log" || true) | tail -1 | cut -d' ' -f2)
    corpus=$(find "$work/$t" -type f | wc -l)
    printf 'run-fuzz: %-9s %10s executions, coverage %5s, corpus %4s inputs\n' "$t" \
        "${execs:-?}" "${cov:-?}" "$corpus"
    total=$((total + ${execs:-0}))
done
if [ -f "$work/failed" ]; then
    status=1
    for t in $(sort -u "$work/failed"); do
        echo "run-fuzz: fuzz_$t FOUND A PROBLEM; its log:" >&2
        tail -60 "$work/$t.log" >&2
        echo "run-fuzz: input(s) in $artifacts/$t/: fix the bug, then add them to" \
            "tests/fuzz/regressions/$t/" >&2
    done
fi
echo "run-fuzz: ${#targets[@]} targets, $total executions in total, $(($(date +%s) - t0)) s" \
    "with the build; $( [ $status = 0 ] && echo 'no findings' || echo 'FINDINGS')" >&2
exit $status
