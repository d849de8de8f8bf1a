#!/usr/bin/env bash
# The live demo, from a fresh clone: install what is missing (Debian 12), build into build/, and
# run gridems-demo (a private mosquitto, the real service with the simulated Sakai data center,
# a week of JEPX Kansai prices in about two minutes). Options are passed on to gridems-demo
# (--speed N, --verbose, --keep; see build/gridems-demo --help).
# Usage: examples/demo.sh [gridems-demo options]
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$src/cmake/install-deps.sh"
echo "building gridems and gridems-demo into $src/build ..." >&2
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$src/build" -j"$(nproc)" --target gridems-demo >/dev/null
exec "$src/build/gridems-demo" "$@" "$src"
