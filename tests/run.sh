#!/usr/bin/env bash
# Install what is missing, build, and run every test twice: a normal build, then one with
# AddressSanitizer and UndefinedBehaviorSanitizer. This is the command CI runs (.ci/run).
# Environment: GRIDEMS_SKIP_SANITIZE=1 runs the normal build only (a quick local loop).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
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
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${GRIDEMS_SKIP_SANITIZE:-0}" != 1 ]; then
    cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DGRIDEMS_SANITIZE=address,undefined >/dev/null
    cmake --build build-sanitize -j"$jobs"
    (cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs")
fi
