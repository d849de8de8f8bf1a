#!/usr/bin/env bash
# Install what is missing, build, and run every test twice: a normal build, then one with
# AddressSanitizer and UndefinedBehaviorSanitizer; then the threaded tests under
# ThreadSanitizer, and a bounded libFuzzer run of every parser (docs/security.md).
# This is the command CI runs (.ci/run).
# Environment: GRIDEMS_SKIP_SANITIZE=1 runs the normal build only (a quick local loop; it skips
# the TSan and fuzz stages too); GRIDEMS_SKIP_TSAN=1, GRIDEMS_SKIP_FUZZ=1 skip one stage;
# GRIDEMS_FUZZ_SECONDS (default 60) is each fuzz target's time.
set -euo pipefail
# Many tests send output to /dev/null and spawn children with it as stdin. Once a command removed
# it on this machine class (`glpsol -o /dev/null` deletes its output file) and the next redirection
# made it a regular file; tests then fail far from the cause, so say it here.
if [ ! -c /dev/null ]; then
    echo "tests/run.sh: /dev/null is not a character device (recreate it: mknod -m 666 /dev/null c 1 3)" >&2
    exit 1
fi
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# Files the build makes are not group- or world-writable: the plugin loader refuses such
# plugins (docs/security.md), whatever umask the caller had.
umask 022
# Every ctest run's counts, for the summary line at the end.
results=$(mktemp)
trap 'rm -f "$results"' EXIT
run_ctest() { # DIR [ctest args...]
    local dir=$1
    shift
    (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@") | tee -a "$results"
}
# clang-format 14 for the format check below.
extra=(clang-format)
# The cross-check against the independent reference needs scipy, and only runs where the
# reference tools (../shared/tools) are present.
if [ -f "$top/../shared/tools/lpref.py" ]; then
    extra+=(python3-scipy)
fi
# The OpenADR test's reference VTN (../shared/peers/openadr3-vtn, Python) needs these; the test
# is skipped where the VTN is absent.
if [ -f "$top/../shared/peers/openadr3-vtn/start.sh" ]; then
    extra+=(python3-flask python3-werkzeug python3-jsonschema python3-yaml python3-inflection
            python3-requests python3-gevent python3-paho-mqtt python3-dateutil python3-jsonpickle
            python3-jwt python3-cryptography python3-packaging)
fi
cmake/install-deps.sh "${extra[@]}"
jobs=$(nproc 2>/dev/null || echo 2)

# The C sources are clang-formatted (.clang-format), except tests/format-pending.txt's.
tests/check_format.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRIDEMS_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
run_ctest build

if [ "${GRIDEMS_SKIP_SANITIZE:-0}" != 1 ]; then
    cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DGRIDEMS_SANITIZE=address,undefined >/dev/null
    cmake --build build-sanitize -j"$jobs"
    ASAN_OPTIONS=detect_leaks=1 run_ctest build-sanitize
fi

if [ "${GRIDEMS_SKIP_SANITIZE:-0}" != 1 ]; then
    # A Release build (-O3) compiles too: GCC's deeper analysis there (bounds, truncation,
    # dangling pointers) warns where -O2 does not, and warnings are errors.
    start=$SECONDS
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DGRIDEMS_BUILD_TESTS=ON >/dev/null
    cmake --build build-release -j"$jobs" >/dev/null
    echo "run.sh: Release build took $((SECONDS - start)) s" >&2
fi

if [ "${GRIDEMS_SKIP_SANITIZE:-0}" != 1 ] && [ "${GRIDEMS_SKIP_TSAN:-0}" != 1 ]; then
    # ThreadSanitizer over the code that runs threads: the solver thread, the mailbox, the
    # timers, the MQTT client (Paho's threads), the plugin host's work pool (queue_work, held
    # and cancelled done_fn), and the service with its plugins end to end.
    start=$SECONDS
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DGRIDEMS_SANITIZE=thread >/dev/null
    cmake --build build-tsan -j"$jobs"
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_ctest build-tsan \
        -R '^(test_solver_thread|test_mailbox|test_timers|test_mqtt_client|test_plugin_loader|test_service|test_security|test_faults)$'
    echo "run.sh: ThreadSanitizer stage took $((SECONDS - start)) s" >&2
fi

if [ "${GRIDEMS_SKIP_SANITIZE:-0}" != 1 ] && [ "${GRIDEMS_SKIP_FUZZ:-0}" != 1 ]; then
    # libFuzzer, bounded: every parser of outside input for GRIDEMS_FUZZ_SECONDS each.
    start=$SECONDS
    rc=0
    tests/fuzz/run-fuzz.sh "${GRIDEMS_FUZZ_SECONDS:-60}" || rc=$?
    if [ "$rc" = 77 ]; then
        echo "run.sh: fuzzing skipped (no clang)" >&2
    elif [ "$rc" != 0 ]; then
        exit "$rc"
    fi
    echo "run.sh: fuzz stage took $((SECONDS - start)) s" >&2
fi

# One closing line over every ctest run above (each stage stops the script if a test failed).
awk '/tests passed, [0-9]+ tests failed out of/ {
         for (i = 1; i <= NF; i++) if ($i == "of") total += $(i + 1)
         for (i = 1; i <= NF; i++) if ($i == "failed") { failed += $(i - 2) }
     }
     END { printf "summary: %d passed, %d failed\n", total - failed, failed }' "$results"
